extension Duration {
    /// The duration in whole milliseconds, rounded down.
    package var wholeMilliseconds: Int64 {
        components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000
    }

    /// The duration in whole microseconds, rounded down.
    package var wholeMicroseconds: Int64 {
        components.seconds * 1_000_000 + components.attoseconds / 1_000_000_000_000
    }

    /// The duration in whole nanoseconds, rounded down.
    @inlinable package var wholeNanoseconds: Int64 {
        components.seconds * 1_000_000_000 + components.attoseconds / 1_000_000_000
    }

    /// `250 ms`, `5000 ms`: for messages.
    package var formattedMilliseconds: String { "\(wholeMilliseconds) ms" }
}

extension Duration {
    /// The duration in seconds, as Foundation counts time.
    package var timeInterval: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }
}
