import Configuration
import Foundation
import Logging
import PeaceHubCore
import PeaceHubMQTT
import PeaceHubTLS

/// Loading: our strict JSON walk for the file, swift-configuration for the layering.
///
/// swift-configuration's `JSONSnapshot` flattens the file and answers only the keys asked for, so a typo'd key is
/// never seen, `true` reads as the integer 1 and a module configuration holding an array of objects is refused.
/// The file is therefore parsed and checked here against the table of settings (unknown keys and wrong types
/// name the key), and its values become one `InMemoryProvider` in a `ConfigReader` whose layers are, highest
/// first: `PEACEHUB_<KEY>` variables, the older `PEACEHUB_DATA_DIR` / `PEACEHUB_PLUGINS_DIR`, the file, the
/// defaults. Every key is then read with a `required…` getter, so a bad variable is an error, not a default.
extension HubConfiguration {
    /// Reads `file` (nil: defaults only), the `PEACEHUB_*` variables of `environment` and the command line's
    /// options (`commandLine`, by key: `["mqtt.port": "8883"]`, over both) into a checked configuration; the first
    /// problem found is thrown. An option is checked as the key in a file would be.
    public static func load(
        file: String?, environment: [String: String], commandLine: [String: String] = [:]
    ) throws(ConfigurationError) -> HubConfiguration {
        var configuration = HubConfiguration()
        var fileValues: [String: ConfigContent] = [:]
        if let file {
            (fileValues, configuration.modules) = try checkedValues(of: try parse(file: file), file: file)
        }
        try checkVariableNames(environment)

        let settings = Self.settings
        let defaults = settings.compactMap { setting in setting.defaultContent.map { (setting.key, $0) } }
        let legacy = legacyVariables.compactMap { key, name in
            environment[name].map { (key, ConfigContent.string($0)) }
        }
        var options: [(String, ConfigContent)] = []
        for (key, value) in commandLine {
            guard let setting = settings.first(where: { $0.key == key }) else {
                preconditionFailure("no setting \(key) for a command-line option")
            }
            switch setting.type {
            case .integer:
                guard let number = Int(value) else {
                    throw ConfigurationError(
                        .wrongType, key: key, source: "the command line",
                        "\(key) must be an integer")
                }
                options.append((key, .int(number)))
            default: options.append((key, .string(value)))
            }
        }
        let reader = ConfigReader(providers: [
            InMemoryProvider(name: "the command line", values: providerValues(options)),
            EnvironmentVariablesProvider(environmentVariables: environment).prefixKeys(with: "peacehub"),
            InMemoryProvider(name: "legacy variables", values: providerValues(legacy)),
            InMemoryProvider(name: file ?? "no file", values: providerValues(fileValues.map { ($0.key, $0.value) })),
            InMemoryProvider(name: "defaults", values: providerValues(defaults)),
        ])

        var sources: [String: String] = [:]
        for setting in settings {
            let key = ConfigKey(setting.key)
            let source =
                commandLine[setting.key] != nil
                ? "the command line"
                : origin(of: setting.key, file: file, fileValues: fileValues, environment: environment)
            sources[setting.key] = source
            let content: ConfigContent?
            do {
                switch setting.type {
                case .string: content = .string(try reader.requiredString(forKey: key))
                case .optionalString: content = reader.string(forKey: key).map(ConfigContent.string)
                case .integer: content = .int(try reader.requiredInt(forKey: key))
                case .boolean: content = .bool(try reader.requiredBool(forKey: key))
                }
            } catch {
                // Only a variable can fail here: file values were type-checked above.
                throw ConfigurationError(
                    .wrongType, key: setting.key, source: source,
                    "\(setting.key) must be \(setting.type.name)")
            }
            if let content, let problem = setting.apply(&configuration, content) {
                throw ConfigurationError(.invalidValue, key: setting.key, source: source, "\(setting.key) \(problem)")
            }
        }
        try checkListenersApart(configuration, sources: sources)
        return configuration
    }

    /// Two enabled listeners on one port of one address would fail at start, after the first had bound; a wildcard
    /// host (`0.0.0.0`, `::`) overlaps every address. Port 0 (a free port each) never clashes.
    private static func checkListenersApart(
        _ configuration: HubConfiguration, sources: [String: String]
    ) throws(ConfigurationError) {
        var listeners = [("mqtt", configuration.mqtt.host, configuration.mqtt.port)]
        if configuration.admin.enabled {
            listeners.append(("admin", configuration.admin.host, configuration.admin.port))
        }
        if configuration.monitoring.enabled {
            listeners.append(("monitoring", configuration.monitoring.host, configuration.monitoring.port))
        }
        // However written (`::0`, `0:0:0:0:0:0:0:0`, `0`, `::ffff:0.0.0.0`): the resolver says.
        func isWildcard(_ host: String) -> Bool {
            host == "*" || host.isEmpty || !addresses(of: host).isDisjoint(with: ["0.0.0.0", "::"])
        }
        for (index, (name, host, port)) in listeners.enumerated() where port != 0 {
            for (earlier, earlierHost, earlierPort) in listeners[..<index] where earlierPort == port {
                // One address written two ways (`localhost` and `127.0.0.1`) is one address.
                let overlapping =
                    host == earlierHost || isWildcard(host) || isWildcard(earlierHost)
                    || !addresses(of: host).isDisjoint(with: addresses(of: earlierHost))
                guard overlapping else { continue }
                // The port that was set is named, not the default it met (`--port 8884` is the admin's default).
                var (key, other) = ("\(name).port", "\(earlier).port")
                if sources[key] ?? "default" == "default", sources[other] ?? "default" != "default" {
                    (key, other) = (other, key)
                }
                let hosts = host == earlierHost ? "on the same host" : "on hosts that share an address"
                throw ConfigurationError(
                    .invalidValue, key: key, source: sources[key] ?? "default",
                    "\(key) is \(port) as \(other) is, \(hosts); each listener needs a port of its own")
            }
        }
    }

    /// Checks that every enabled listener's host resolves, so `--check-config` and a start name the key instead of
    /// failing at bind. Not part of `load`: a reload (which cannot move a listener) must not depend on the resolver.
    public func checkListenerHosts() throws(ConfigurationError) {
        var hosts = [("mqtt.host", mqtt.host)]
        if admin.enabled { hosts.append(("admin.host", admin.host)) }
        if monitoring.enabled { hosts.append(("monitoring.host", monitoring.host)) }
        for (key, host) in hosts {
            let addresses = Self.addresses(of: host)
            if addresses.isEmpty {
                // A URL brackets an IPv6 address (`[::1]:8883`); a host setting is the address alone.
                let hint = host.hasPrefix("[") ? " (an IPv6 address is written without brackets)" : ""
                throw ConfigurationError(
                    .invalidValue, key: key, source: "the configuration",
                    "\(key) is neither a numeric address nor a name that resolves to one\(hint)")
            }
            // `bind` refuses a link-local address without its interface (EINVAL), after the modules had loaded. A
            // name is left to the bind: it binds its first address only, which need not be the link-local one.
            if Self.isLinkLocalWithoutZone(host) {
                throw ConfigurationError(
                    .invalidValue, key: key, source: "the configuration",
                    "\(key) is a link-local IPv6 address without its interface (write it as fe80::1%eth0)")
            }
        }
    }

    /// An IPv6 address in `fe80::/10`, which names an address on one link only, written without the zone that
    /// says which (`%eth0`; with one it is no plain address).
    private static func isLinkLocalWithoutZone(_ host: String) -> Bool {
        guard let address = ipAddressBytes(host), address.count == 16 else { return false }
        return address[0] == 0xFE && address[1] & 0xC0 == 0x80
    }

    /// The numeric addresses `host` resolves to (empty when it does not: binding it will say why).
    private static func addresses(of host: String) -> Set<String> {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, nil, &hints, &list) == 0 else { return [] }
        defer { freeaddrinfo(list) }
        var found: Set<String> = []
        var next = list
        while let entry = next {
            var name = [CChar](repeating: 0, count: Int(NI_MAXHOST))
            let address = entry.pointee
            let size = socklen_t(name.count)
            if getnameinfo(address.ai_addr, address.ai_addrlen, &name, size, nil, 0, NI_NUMERICHOST) == 0 {
                let numeric = String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
                // An IPv4-mapped IPv6 address (`::ffff:127.0.0.1`) binds the IPv4 address it maps.
                let mapped = numeric.hasPrefix("::ffff:") && numeric.contains(".")
                found.insert(mapped ? String(numeric.dropFirst("::ffff:".count)) : numeric)
            }
            next = entry.pointee.ai_next
        }
        return found
    }

    /// The environment variable that overrides `key`: `PEACEHUB_` and the key with dots and camel-case word
    /// boundaries as underscores, upper case (swift-configuration's rule): `mqtt.maximumInflight` →
    /// `PEACEHUB_MQTT_MAXIMUM_INFLIGHT`.
    public static func environmentName(of key: String) -> String {
        var name = "PEACEHUB"
        for component in key.split(separator: ".") {
            var word = ""
            var previous: Character?
            for character in component {
                if let previous, previous.isLowercase, character.isUppercase { word.append("_") }
                word.append(character)
                previous = character
            }
            name += "_" + word.uppercased().map { $0.isLetter || $0.isNumber ? String($0) : "_" }.joined()
        }
        return name
    }

    /// Every settable key in documentation order.
    public static var keys: [String] { settings.map(\.key) }

    /// The variables the CLI and tests used before the configuration file existed; the documented
    /// `PEACEHUB_DATA_DIRECTORY` / `PEACEHUB_PLUGINS_DIRECTORY` win when both are set.
    static let legacyVariables = [("dataDirectory", "PEACEHUB_DATA_DIR"), ("pluginsDirectory", "PEACEHUB_PLUGINS_DIR")]

    /// Variables with these prefixes can only mean a setting, so an unknown one is a typo.
    static let sectionVariablePrefixes = [
        "PEACEHUB_MQTT_", "PEACEHUB_TLS_", "PEACEHUB_ADMIN_", "PEACEHUB_MONITORING_", "PEACEHUB_LOG_",
    ]

    // MARK: - The settings

    /// One key: its JSON type, its default and how a value is checked and stored.
    struct Setting {
        enum ValueType {
            case string
            case optionalString
            case integer
            case boolean

            var name: String {
                switch self {
                case .string: "a string"
                case .optionalString: "a string or null"
                case .integer: "an integer"
                case .boolean: "true or false"
                }
            }
        }

        var key: String
        var type: ValueType
        /// The default as swift-configuration content; nil when the key is unset by default.
        var defaultContent: ConfigContent?
        /// Stores a value, or returns what is wrong with it ("must be …, not …").
        var apply: (inout HubConfiguration, ConfigContent) -> String?
        /// The key's value in a configuration, to tell whether a reload changed it.
        var value: (HubConfiguration) -> String
        /// Copies the key's value from the second configuration into the first.
        var copy: (inout HubConfiguration, HubConfiguration) -> Void

        init(
            key: String, type: ValueType, defaultContent: ConfigContent?, _ path: WritableKeyPath<HubConfiguration, some Any>,
            apply: @escaping (inout HubConfiguration, ConfigContent) -> String?
        ) {
            self.key = key
            self.type = type
            self.defaultContent = defaultContent
            self.apply = apply
            value = { String(describing: $0[keyPath: path]) }
            copy = { $0[keyPath: path] = $1[keyPath: path] }
        }

        static func text(
            _ key: String, _ path: WritableKeyPath<HubConfiguration, String>,
            check: @escaping (String) -> String? = { $0.isEmpty ? "must not be empty" : nil }
        ) -> Setting {
            Setting(key: key, type: .string, defaultContent: .string(HubConfiguration()[keyPath: path]), path) {
                guard case .string(let value) = $1 else { return "must be a string" }
                if let problem = check(value) { return problem }
                $0[keyPath: path] = value
                return nil
            }
        }

        static func optionalText(
            _ key: String, _ path: WritableKeyPath<HubConfiguration, String?>,
            check: @escaping (String) -> String? = { _ in nil }
        ) -> Setting {
            let defaultContent = HubConfiguration()[keyPath: path].map { ConfigContent.string($0) }
            return Setting(key: key, type: .optionalString, defaultContent: defaultContent, path) {
                guard case .string(let value) = $1 else { return "must be a string" }
                if value.isEmpty { return "must not be empty" }
                if let problem = check(value) { return problem }
                $0[keyPath: path] = value
                return nil
            }
        }

        static func integer(
            _ key: String, _ path: WritableKeyPath<HubConfiguration, Int>, _ range: ClosedRange<Int>
        ) -> Setting {
            Setting(key: key, type: .integer, defaultContent: .int(HubConfiguration()[keyPath: path]), path) {
                guard case .int(let value) = $1 else { return "must be an integer" }
                guard range.contains(value) else {
                    return "must be between \(range.lowerBound) and \(range.upperBound), not \(value)"
                }
                $0[keyPath: path] = value
                return nil
            }
        }

        static func flag(_ key: String, _ path: WritableKeyPath<HubConfiguration, Bool>) -> Setting {
            Setting(key: key, type: .boolean, defaultContent: .bool(HubConfiguration()[keyPath: path]), path) {
                guard case .bool(let value) = $1 else { return "must be true or false" }
                $0[keyPath: path] = value
                return nil
            }
        }

        static func choice<Value: Equatable>(
            _ key: String, _ path: WritableKeyPath<HubConfiguration, Value>, _ choices: [(name: String, value: Value)]
        ) -> Setting {
            let defaultName = choices.first { $0.value == HubConfiguration()[keyPath: path] }?.name
            return Setting(key: key, type: .string, defaultContent: defaultName.map { .string($0) }, path) {
                guard case .string(let name) = $1 else { return "must be a string" }
                guard let choice = choices.first(where: { $0.name == name }) else {
                    let names = choices.map { quoted($0.name) }
                    let allowed =
                        names.count == 2 ? names.joined(separator: " or ") : "one of " + names.joined(separator: ", ")
                    return "must be \(allowed)"
                }
                $0[keyPath: path] = choice.value
                return nil
            }
        }
    }

    /// The table the file, the variables and the documentation follow.
    static var settings: [Setting] {
        let positive = 1...Int(Int32.max)
        return [
            .text("dataDirectory", \.dataDirectory),
            .optionalText("pluginsDirectory", \.pluginsDirectory),
            .text("mqtt.host", \.mqtt.host),
            .integer("mqtt.port", \.mqtt.port, 0...65_535),
            // MQTT 3.1.1's largest packet: a 268,435,455-byte remaining length plus a 5-byte fixed header.
            .integer("mqtt.maximumPacketSize", \.mqtt.maximumPacketSize, 2...268_435_460),
            // Packet identifiers are 16 bits.
            .integer("mqtt.maximumInflight", \.mqtt.maximumInflight, 1...65_535),
            .integer("mqtt.maximumQueued", \.mqtt.maximumQueued, positive),
            .integer("mqtt.maximumConnections", \.mqtt.maximumConnections, positive),
            .integer("mqtt.maximumConnectionsPerPrincipal", \.mqtt.maximumConnectionsPerPrincipal, positive),
            .choice(
                "mqtt.durability", \.mqtt.durability, [("process-crash", .processCrash), ("power-loss", .powerLoss)]),
            .integer("mqtt.routingBudgetMilliseconds", \.mqtt.routingBudgetMilliseconds, 1...3_600_000),
            // MQTT 5 limits: two-byte and four-byte fields of CONNACK.
            .integer("mqtt.receiveMaximum", \.mqtt.receiveMaximum, 1...65_535),
            .integer("mqtt.topicAliasMaximum", \.mqtt.topicAliasMaximum, 0...65_535),
            .integer("mqtt.maximumSubscriptionsPerSession", \.mqtt.maximumSubscriptionsPerSession, positive),
            .integer("mqtt.maximumRetainedPerPrincipal", \.mqtt.maximumRetainedPerPrincipal, positive),
            .integer("mqtt.maximumKeepAliveSeconds", \.mqtt.maximumKeepAliveSeconds, 0...65_535),
            .integer("mqtt.maximumSessionExpirySeconds", \.mqtt.maximumSessionExpirySeconds, 0...4_294_967_295),
            .integer("mqtt.storeHoldMicroseconds", \.mqtt.storeHoldMicroseconds, 0...10_000_000),
            .integer("mqtt.connectTimeoutSeconds", \.mqtt.connectTimeoutSeconds, 1...3600),
            .integer("mqtt.systemReportIntervalSeconds", \.mqtt.systemReportIntervalSeconds, 0...86_400),
            .integer("mqtt.eventLoopThreads", \.mqtt.eventLoopThreads, 0...1024),
            .text("mqtt.precedenceTopics", \.mqtt.precedenceTopics, check: checkTopicFilters),
            .text("tls.serverName", \.tls.serverName, check: checkFileName),
            .choice("tls.minimumVersion", \.tls.minimumVersion, [("1.3", .tlsv1_3), ("1.2", .tlsv1_2)]),
            .optionalText("tls.cipherSuites", \.tls.cipherSuites, check: TLSContext.cipherSuitesProblem),
            .integer("tls.handshakeTimeoutSeconds", \.tls.handshakeTimeoutSeconds, 1...3600),
            .integer("tls.crlWarningDays", \.tls.crlWarningDays, 0...365),
            .integer("tls.watchIntervalSeconds", \.tls.watchIntervalSeconds, 0...3600),
            .flag("admin.enabled", \.admin.enabled),
            .text("admin.host", \.admin.host),
            .integer("admin.port", \.admin.port, 0...65_535),
            .integer("admin.maximumBodySize", \.admin.maximumBodySize, 1024...(64 << 20)),
            .integer("admin.maximumConnections", \.admin.maximumConnections, 1...65_535),
            .flag("monitoring.enabled", \.monitoring.enabled),
            .text("monitoring.host", \.monitoring.host),
            .integer("monitoring.port", \.monitoring.port, 0...65_535),
            .integer("monitoring.maximumConnections", \.monitoring.maximumConnections, 1...65_535),
            .choice("log.level", \.log.level, Logger.Level.allCases.map { ($0.rawValue, $0) }),
            .choice("log.format", \.log.format, HubConfiguration.Log.Format.allCases.map { ($0.rawValue, $0) }),
            .integer("shutdownTimeoutSeconds", \.shutdownTimeoutSeconds, 1...3600),
        ]
    }

    /// The keys a reload (SIGHUP) applies while the hub runs. The others, and `modules` (a module reads its
    /// configuration once, when its instance is created), are logged as waiting for a restart when changed.
    public static let reloadableKeys: Set<String> = [
        "mqtt.maximumPacketSize", "mqtt.maximumInflight", "mqtt.maximumQueued", "mqtt.maximumConnections",
        "mqtt.maximumConnectionsPerPrincipal", "mqtt.routingBudgetMilliseconds", "mqtt.receiveMaximum",
        "mqtt.topicAliasMaximum", "mqtt.maximumSubscriptionsPerSession", "mqtt.maximumRetainedPerPrincipal",
        "mqtt.maximumKeepAliveSeconds",
        "mqtt.maximumSessionExpirySeconds", "mqtt.storeHoldMicroseconds", "mqtt.connectTimeoutSeconds",
        "mqtt.systemReportIntervalSeconds", "tls.serverName", "tls.minimumVersion", "tls.cipherSuites",
        "tls.handshakeTimeoutSeconds", "tls.crlWarningDays", "log.level", "shutdownTimeoutSeconds",
    ]

    /// The keys whose values differ between the two configurations, in documentation order; a changed module
    /// configuration is named `modules.<module id>`.
    public func changedKeys(from other: HubConfiguration) -> [String] {
        let keys = Self.settings.filter { $0.value(self) != $0.value(other) }.map(\.key)
        let moduleIDs = Set(modules.keys).union(other.modules.keys).filter { modules[$0] != other.modules[$0] }
        return keys + moduleIDs.sorted().map { "modules.\($0)" }
    }

    /// This configuration with the reloadable keys of `other`: what a reload applies.
    public func takingReloadableKeys(of other: HubConfiguration) -> HubConfiguration {
        var result = self
        for setting in Self.settings where Self.reloadableKeys.contains(setting.key) { setting.copy(&result, other) }
        return result
    }

    /// A comma-separated list of MQTT topic filters; empty for none.
    private static func checkTopicFilters(_ list: String) -> String? {
        let filters = MQTT.topicFilters(in: list)
        guard let bad = filters.firstIndex(where: { !TopicFilter.isValid($0) }) else { return nil }
        return "has an entry that is no MQTT topic filter, the \((bad + 1).ordinal) (filters are separated by commas)"
    }

    /// The server name becomes a file name under `pki/server/`, so it may not climb out of it.
    private static func checkFileName(_ name: String) -> String? {
        let allowed = name.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "-_.".contains($0)) }
        return !name.isEmpty && allowed && !name.hasPrefix(".")
            ? nil : "must be a file name of letters, digits, '-', '_' and '.'"
    }

    // MARK: - The file

    private static func parse(file: String) throws(ConfigurationError) -> JSONValue {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: file, isDirectory: &isDirectory) else {
            throw ConfigurationError(.missingFile, source: file, "the configuration file does not exist")
        }
        guard !isDirectory.boolValue, FileManager.default.isReadableFile(atPath: file),
            let data = FileManager.default.contents(atPath: file)
        else {
            throw ConfigurationError(.unreadableFile, source: file, "cannot read the configuration file")
        }
        do {
            return try JSONValue(parsing: data)
        } catch {
            throw ConfigurationError(.invalidSyntax, source: file, "not valid JSON: \(error)")
        }
    }

    /// Checks every key and type of the parsed file; returns the settings' values by dotted key and the modules'
    /// configurations.
    private static func checkedValues(
        of root: JSONValue, file: String
    ) throws(ConfigurationError) -> ([String: ConfigContent], [String: JSONValue]) {
        guard case .object(let members) = root else {
            throw ConfigurationError(.wrongType, source: file, "the top level must be an object, not \(describe(root))")
        }
        let settings = Dictionary(uniqueKeysWithValues: Self.settings.map { ($0.key, $0) })
        let sections = Set(
            settings.keys.compactMap { key in key.contains(".") ? String(key.prefix { $0 != "." }) : nil })
        var values: [String: ConfigContent] = [:]
        var modules: [String: JSONValue] = [:]

        func wrongType(_ key: String, _ expected: String, _ value: JSONValue) -> ConfigurationError {
            ConfigurationError(.wrongType, key: key, source: file, "\(key) must be \(expected), not \(describe(value))")
        }
        func store(_ key: String, _ value: JSONValue) throws(ConfigurationError) {
            guard let setting = settings[key] else {
                throw ConfigurationError(
                    .unknownKey, key: key, source: file, unknownKeyReason(key, known: Self.keys))
            }
            switch (setting.type, value) {
            case (.string, .string(let text)), (.optionalString, .string(let text)):
                values[key] = .string(text)
            case (.optionalString, .null):
                break
            case (.boolean, .bool(let flag)):
                values[key] = .bool(flag)
            case (.integer, .number(let number)) where number.rounded() == number && abs(number) < 1e15:
                values[key] = .int(Int(number))
            default:
                throw wrongType(key, setting.type.name, value)
            }
        }

        for (name, value) in members.sorted(by: { $0.key < $1.key }) {
            if name == "modules" {
                guard case .object(let entries) = value else {
                    throw wrongType(name, "an object of module configurations by module id", value)
                }
                for (moduleID, configuration) in entries.sorted(by: { $0.key < $1.key }) {
                    guard case .object = configuration else {
                        throw wrongType("modules.\(moduleID)", "an object", configuration)
                    }
                    modules[moduleID] = configuration
                }
            } else if sections.contains(name) {
                guard case .object(let entries) = value else { throw wrongType(name, "an object", value) }
                for (member, memberValue) in entries.sorted(by: { $0.key < $1.key }) {
                    try store("\(name).\(member)", memberValue)
                }
            } else if name.contains(".") {
                let nested = name.split(separator: ".", maxSplits: 1)
                let example = "\"\(nested[0])\": {\"\(nested.last ?? "")\": …}"
                throw ConfigurationError(
                    .unknownKey, key: name, source: file,
                    "unknown key \(quoted(name)): write sections as nested objects, as in \(example)")
            } else {
                try store(name, value)
            }
        }
        return (values, modules)
    }

    // MARK: - Variables

    private static func checkVariableNames(_ environment: [String: String]) throws(ConfigurationError) {
        let known = settings.map { environmentName(of: $0.key) }
        for name in environment.keys.sorted()
        where sectionVariablePrefixes.contains(where: { name.hasPrefix($0) }) && !known.contains(name) {
            let hint = nearest(to: name, among: known).map { " (did you mean \($0)?)" } ?? ""
            throw ConfigurationError(.unknownKey, source: name, "no setting is named by this variable\(hint)")
        }
    }

    /// Where the value of `key` comes from, for error messages: a variable, the file or the defaults.
    private static func origin(
        of key: String, file: String?, fileValues: [String: ConfigContent], environment: [String: String]
    ) -> String {
        let name = environmentName(of: key)
        if environment[name] != nil { return name }
        if let legacy = legacyVariables.first(where: { $0.0 == key })?.1, environment[legacy] != nil { return legacy }
        if let file, fileValues[key] != nil { return file }
        return "default"
    }

    private static func providerValues(_ values: [(String, ConfigContent)]) -> [AbsoluteConfigKey: ConfigValue] {
        let pairs = values.map { (AbsoluteConfigKey(ConfigKey($0.0)), ConfigValue($0.1, isSecret: false)) }
        return Dictionary(pairs) { _, last in last }
    }

    // MARK: - Messages

    private static func unknownKeyReason(_ key: String, known: [String]) -> String {
        let hint = nearest(to: key, among: known).map { " (did you mean \(quoted($0))?)" } ?? ""
        return "unknown key \(quoted(key))\(hint)"
    }

    /// The known name closest to a typo, when it is close (at most two edits, or the same last component).
    private static func nearest(to name: String, among known: [String]) -> String? {
        let last = name.split(separator: ".").last.map(String.init) ?? name
        let scored = known.map { candidate in
            let candidateLast = candidate.split(separator: ".").last.map(String.init) ?? candidate
            return (candidate, min(editDistance(name, candidate), last == candidateLast ? 1 : .max))
        }
        return scored.filter { $0.1 <= 2 }.min { $0.1 < $1.1 }?.0
    }

    private static func editDistance(_ first: String, _ second: String) -> Int {
        let (a, b) = (Array(first.lowercased()), Array(second.lowercased()))
        guard !a.isEmpty, !b.isEmpty else { return max(a.count, b.count) }
        var previous = Array(0...b.count)
        for i in 1...a.count {
            var current = [i] + Array(repeating: 0, count: b.count)
            for j in 1...b.count {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            previous = current
        }
        return previous[b.count]
    }

    /// A name (a key, an allowed value) as it appears in a message: quoted, escaped onto one line, shortened. Values
    /// refused are never shown: a message may reach the log, and a module's configuration may hold a secret.
    static func quoted(_ text: String) -> String {
        let shown = text.count > 60 ? String(text.prefix(60)) + "…" : text
        return String(reflecting: shown)
    }

    private static func describe(_ value: JSONValue) -> String {
        switch value {
        case .null: "null"
        case .bool(let flag): "\(flag)"
        case .number(let number):
            "the number \(number.rounded() == number && abs(number) < 1e15 ? "\(Int(number))" : "\(number)")"
        case .string: "a string"
        case .array: "an array"
        case .object: "an object"
        }
    }
}
