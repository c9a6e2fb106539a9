import ArgumentParser

/// How a long command shows its progress on standard error.
enum ProgressStyle: String, ExpressibleByArgument, CaseIterable {
    /// A bar on a terminal, nothing otherwise.
    case auto
    /// A bar redrawn in place.
    case bar
    /// One line per step, for logs and scripts.
    case lines
    /// Nothing.
    case none
}

/// Progress of `done` out of `total` items.
struct Progress {
    let total: Int
    let noun: String
    let style: ProgressStyle
    private var drawn = false

    init(total: Int, noun: String, style: ProgressStyle) {
        self.total = total
        self.noun = noun
        self.style = style == .auto ? (Console.errorIsTerminal ? .bar : .none) : style
    }

    mutating func update(_ done: Int) {
        switch style {
        case .bar:
            let width = 30
            let filled = total == 0 ? width : done * width / total
            let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
            let percent = total == 0 ? 100 : done * 100 / total
            Console.errorRaw("\r[\(bar)] \(done)/\(total) \(noun) \(percent)%")
            drawn = true
        case .lines:
            Console.error("progress: \(done)/\(total) \(noun)")
        case .auto, .none:
            break
        }
    }

    func finish() {
        if drawn { Console.errorRaw("\n") }
    }
}
