// tm-dev-kafka: hosts librdkafka's mock Kafka cluster on loopback for examples and manual runs.
// Prints the bootstrap address, then serves until interrupted (Ctrl-C) or for --seconds N.
import Foundation
import TrafficManagerKafka

var brokers = 1
var seconds: Double?
var topics = ["route-events"]
var arguments = CommandLine.arguments.dropFirst()
while let argument = arguments.popFirst() {
    switch argument {
    case "--brokers": brokers = Int(arguments.popFirst() ?? "") ?? brokers
    case "--seconds": seconds = Double(arguments.popFirst() ?? "")
    case "--topic": topics.append(arguments.popFirst() ?? "route-events")
    default:
        print("usage: tm-dev-kafka [--brokers N] [--topic NAME]... [--seconds N]")
        exit(2)
    }
}

let cluster = try KafkaMockCluster(brokers: brokers)
for topic in Set(topics) { try cluster.createTopic(topic) }
FileHandle.standardOutput.write(Data("bootstrap.servers=\(cluster.bootstrapServers)\n".utf8))
FileHandle.standardError.write(Data("topics: \(Set(topics).sorted().joined(separator: ", ")); \(brokers) broker(s); Ctrl-C stops it\n".utf8))

signal(SIGINT, SIG_IGN)
signal(SIGTERM, SIG_IGN)
let stop = DispatchSemaphore(value: 0)
let sources = [SIGINT, SIGTERM].map { number in
    let source = DispatchSource.makeSignalSource(signal: number)
    source.setEventHandler { stop.signal() }
    source.resume()
    return source
}
if let seconds {
    _ = stop.wait(timeout: .now() + seconds)
} else {
    stop.wait()
}
cluster.shutdown()
withExtendedLifetime(sources) {}
