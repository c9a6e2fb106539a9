import TrafficManager

/// TrafficManager's `ValidationError`, named apart from ArgumentParser's type of that name.
typealias InputRuleError = ValidationError
