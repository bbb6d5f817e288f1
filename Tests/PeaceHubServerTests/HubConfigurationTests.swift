import Foundation
import Logging
import NIOCore
import PeaceHubCore
import PeaceHubMQTT
import PeaceHubServer
import PeaceHubTLS
import PeaceHubTesting
import Testing

/// The configuration file and its `PEACEHUB_*` overrides: defaults, every key, and each error naming its key.
@Suite struct HubConfigurationTests {
    /// Writes `text` as a configuration file in a fresh folder and loads it.
    func load(_ text: String, environment: [String: String] = [:]) throws -> HubConfiguration {
        let folder = try TemporaryDirectory(prefix: "phub-config")
        defer { folder.remove() }
        let file = folder.path("peacehub.json")
        try Data(text.utf8).write(to: URL(fileURLWithPath: file))
        return try HubConfiguration.load(file: file, environment: environment)
    }

    /// The configuration error `text` gives; nil when it loads.
    func error(_ text: String, environment: [String: String] = [:]) -> ConfigurationError? {
        do {
            _ = try load(text, environment: environment)
            return nil
        } catch {
            return error as? ConfigurationError
        }
    }

    @Test func noFileMeansDefaults() throws {
        let configuration = try HubConfiguration.load(file: nil, environment: [:])
        #expect(configuration == HubConfiguration())
        #expect(configuration.dataDirectory == "var")
        #expect(configuration.pluginsDirectory == nil)
        #expect(configuration.mqtt.host == "127.0.0.1")
        #expect(configuration.mqtt.port == 8883)
        #expect(configuration.mqtt.maximumPacketSize == 4_194_304)
        #expect(configuration.mqtt.maximumInflight == 32)
        #expect(configuration.mqtt.maximumQueued == 1000)
        #expect(configuration.mqtt.maximumConnections == 10_000)
        #expect(configuration.mqtt.maximumConnectionsPerPrincipal == 200)
        #expect(configuration.mqtt.durability == .processCrash)
        #expect(configuration.mqtt.routingBudgetMilliseconds == 2000)
        #expect(configuration.mqtt.storeHoldMicroseconds == 20_000)
        #expect(configuration.tls.serverName == "localhost")
        #expect(configuration.tls.minimumVersion == .tlsv1_3)
        #expect(configuration.tls.handshakeTimeoutSeconds == 5)
        #expect(configuration.tls.crlWarningDays == 7)
        #expect(configuration.admin.enabled)
        #expect(configuration.admin.host == "127.0.0.1")
        #expect(configuration.admin.port == 8884)
        #expect(configuration.admin.maximumBodySize == 1 << 20)
        #expect(configuration.monitoring.enabled)
        #expect(configuration.monitoring.host == "127.0.0.1")
        #expect(configuration.monitoring.port == 9883)
        #expect(configuration.log.level == .info)
        #expect(configuration.log.format == .text)
        #expect(configuration.modules.isEmpty)
        #expect(try load("{}") == HubConfiguration())
    }

    @Test func fullFile() throws {
        let configuration = try load(
            """
            {
              "dataDirectory": "/srv/peacehub", "pluginsDirectory": "/opt/peacehub/plugins",
              "mqtt": {
                "host": "0.0.0.0", "port": 18883, "maximumPacketSize": 1048576, "maximumInflight": 16,
                "maximumQueued": 500, "maximumConnections": 2000, "maximumConnectionsPerPrincipal": 50,
                "durability": "power-loss", "routingBudgetMilliseconds": 1500
              },
              "tls": { "serverName": "hub.example.org", "minimumVersion": "1.2", "handshakeTimeoutSeconds": 10,
                       "crlWarningDays": 14, "cipherSuites": "TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256" },
              "admin": { "enabled": false, "host": "0.0.0.0", "port": 18884, "maximumBodySize": 65536,
                         "maximumConnections": 8 },
              "monitoring": { "enabled": true, "host": "::1", "port": 0, "maximumConnections": 4 },
              "log": { "level": "debug", "format": "json" }, "shutdownTimeoutSeconds": 30,
              "modules": { "org.peacehub.example": { "greeting": "salaam" } }
            }
            """)
        var expected = HubConfiguration()
        expected.dataDirectory = "/srv/peacehub"
        expected.pluginsDirectory = "/opt/peacehub/plugins"
        expected.mqtt.host = "0.0.0.0"
        expected.mqtt.port = 18883
        expected.mqtt.maximumPacketSize = 1_048_576
        expected.mqtt.maximumInflight = 16
        expected.mqtt.maximumQueued = 500
        expected.mqtt.maximumConnections = 2000
        expected.mqtt.maximumConnectionsPerPrincipal = 50
        expected.mqtt.durability = .powerLoss
        expected.mqtt.routingBudgetMilliseconds = 1500
        expected.tls.serverName = "hub.example.org"
        expected.tls.minimumVersion = .tlsv1_2
        expected.tls.handshakeTimeoutSeconds = 10
        expected.tls.crlWarningDays = 14
        expected.tls.cipherSuites = "TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"
        expected.admin.enabled = false
        expected.admin.host = "0.0.0.0"
        expected.admin.port = 18884
        expected.admin.maximumBodySize = 65536
        expected.admin.maximumConnections = 8
        expected.monitoring.maximumConnections = 4
        expected.monitoring.host = "::1"
        expected.monitoring.port = 0
        expected.log.level = .debug
        expected.log.format = .json
        expected.shutdownTimeoutSeconds = 30
        expected.modules = ["org.peacehub.example": ["greeting": "salaam"]]
        #expect(configuration == expected)
    }

    /// docs/peacehub.example.json names every key with its default.
    @Test func exampleFileHasEveryKeyWithItsDefault() throws {
        let file = TestEnvironment.packageRoot.appendingPathComponent("docs/peacehub.example.json").path
        var configuration = try HubConfiguration.load(file: file, environment: [:])
        #expect(configuration.modules["org.peacehub.example"] == ["greeting": "hello"])
        configuration.modules = [:]
        #expect(configuration == HubConfiguration())
        let text = try String(contentsOfFile: file, encoding: .utf8)
        for key in HubConfiguration.keys {
            #expect(text.contains("\"\(key.split(separator: ".").last!)\""), "\(key) is missing from the example")
        }
    }

    @Test func missingFileNamesTheFile() {
        #expect {
            try HubConfiguration.load(file: "/nonexistent/peacehub.json", environment: [:])
        } throws: { error in
            let error = error as! ConfigurationError
            return error.code == .missingFile && error.description.hasPrefix("/nonexistent/peacehub.json: ")
        }
    }

    @Test func folderIsUnreadable() throws {
        let folder = try TemporaryDirectory(prefix: "phub-config")
        defer { folder.remove() }
        #expect {
            try HubConfiguration.load(file: folder.url.path, environment: [:])
        } throws: { error in
            let error = error as! ConfigurationError
            return error.code == .unreadableFile && error.source == folder.url.path
        }
    }

    @Test func invalidSyntaxGivesThePosition() throws {
        let problem = try #require(error("{\n  \"mqtt\": {\"port\": x}\n}"))
        #expect(problem.code == .invalidSyntax)
        #expect(
            problem.description.hasSuffix(
                "peacehub.json: not valid JSON: unexpected character 'x', a value was expected (line 2, column 20)"))
        #expect(error("")?.code == .invalidSyntax)
        let trailingComma = try #require(error("{\"mqtt\": {\"port\": 1,}}"))
        #expect(trailingComma.description.hasSuffix("a member name in quotes was expected (line 1, column 21)"))
    }

    @Test func unknownKeysAreNamed() throws {
        let nested = try #require(error(#"{"mqtt": {"prot": 18883}}"#))
        #expect(nested.code == .unknownKey)
        #expect(nested.key == "mqtt.prot")
        #expect(nested.description.hasSuffix(#"peacehub.json: unknown key "mqtt.prot" (did you mean "mqtt.port"?)"#))

        let top = try #require(error(#"{"port": 18883}"#))
        #expect(top.key == "port")
        #expect(top.reason == #"unknown key "port" (did you mean "mqtt.port"?)"#)

        let section = try #require(error(#"{"mqt": {"port": 18883}}"#))
        #expect(section.code == .unknownKey)
        #expect(section.key == "mqt")

        let flattened = try #require(error(#"{"mqtt.port": 18883}"#))
        #expect(flattened.code == .unknownKey)
        #expect(flattened.key == "mqtt.port")
    }

    @Test func wrongTypesAreNamed() throws {
        let port = try #require(error(#"{"mqtt": {"port": "x"}}"#))
        #expect(port.code == .wrongType)
        #expect(port.key == "mqtt.port")
        #expect(port.description.hasSuffix("peacehub.json: mqtt.port must be an integer, not a string"))

        #expect(error(#"{"mqtt": {"port": true}}"#)?.key == "mqtt.port")
        #expect(error(#"{"mqtt": {"port": 8883.5}}"#)?.reason == "mqtt.port must be an integer, not the number 8883.5")
        #expect(error(#"{"mqtt": {"host": 1}}"#)?.reason == "mqtt.host must be a string, not the number 1")
        #expect(error(#"{"mqtt": 8883}"#)?.reason == "mqtt must be an object, not the number 8883")
        #expect(error(#"{"log": {"level": null}}"#)?.key == "log.level")
        // A refused string is never shown: the message may reach the log, and a module's may be a secret.
        let module = error(#"{"modules": {"org.peacehub.example": "apiToken=S3CR3T"}}"#)
        #expect(module?.key == "modules.org.peacehub.example")
        #expect(module?.reason == "modules.org.peacehub.example must be an object, not a string")
        #expect(error(#"{"modules": []}"#)?.code == .wrongType)
        let flag = error(#"{"admin": {"enabled": "yes"}}"#)
        #expect(flag?.reason == "admin.enabled must be true or false, not a string")
        #expect(error(#"{"monitoring": {"enabled": 1}}"#)?.key == "monitoring.enabled")
        #expect(error("[]")?.code == .wrongType)
        // null means the default only where the default is "none".
        #expect(try load(#"{"pluginsDirectory": null}"#) == HubConfiguration())
    }

    @Test func invalidValuesAreNamed() throws {
        let durability = try #require(error(#"{"mqtt": {"durability": "fast"}}"#))
        #expect(durability.code == .invalidValue)
        #expect(durability.key == "mqtt.durability")
        #expect(durability.reason == #"mqtt.durability must be "process-crash" or "power-loss""#)

        let level = try #require(error(#"{"log": {"level": "verbose"}}"#))
        #expect(level.code == .invalidValue)
        #expect(level.reason.hasPrefix(#"log.level must be one of "trace", "debug", "info""#))

        #expect(error(#"{"mqtt": {"port": 70000}}"#)?.reason == "mqtt.port must be between 0 and 65535, not 70000")
        #expect(error(#"{"mqtt": {"maximumInflight": 0}}"#)?.key == "mqtt.maximumInflight")
        #expect(error(#"{"mqtt": {"maximumQueued": -1}}"#)?.code == .invalidValue)
        #expect(error(#"{"tls": {"minimumVersion": "1.1"}}"#)?.key == "tls.minimumVersion")
        #expect(error(#"{"tls": {"serverName": "../../etc/x"}}"#)?.key == "tls.serverName")
        // OpenSSL would skip the unknown name and accept the rest.
        let suites = try #require(error(#"{"tls": {"cipherSuites": "TLS_AES_128_GCM_SHA256:TLS_AES_512_XYZ"}}"#))
        #expect(suites.key == "tls.cipherSuites")
        // Named by its position: a refused value is never shown.
        let unknownSuite = "tls.cipherSuites has an entry that is no TLS 1.3 suite of this OpenSSL, the 2nd (suites "
            + "are separated by colons)"
        #expect(suites.reason == unknownSuite)
        #expect(error(#"{"tls": {"cipherSuites": ""}}"#)?.key == "tls.cipherSuites")
        // A list of unknown names only: OpenSSL said "no cipher match", which named neither the value nor the rule.
        #expect(
            error(#"{"tls": {"cipherSuites": "TLS_AES_128_GCM_SHA256_SECRET"}}"#)?.reason
                == "tls.cipherSuites has an entry that is no TLS 1.3 suite of this OpenSSL, the 1st (suites are "
                + "separated by colons)")
        #expect(error(#"{"log": {"format": "xml"}}"#)?.key == "log.format")
        #expect(error(#"{"dataDirectory": ""}"#)?.key == "dataDirectory")
        #expect(error(#"{"admin": {"port": 65536}}"#)?.reason == "admin.port must be between 0 and 65535, not 65536")
        #expect(error(#"{"admin": {"maximumBodySize": 10}}"#)?.key == "admin.maximumBodySize")
        #expect(error(#"{"monitoring": {"host": ""}}"#)?.key == "monitoring.host")
        #expect(
            error(#"{"mqtt": {"precedenceTopics": "contingents/+/inbox, chat/#/x"}}"#)?.reason
                == "mqtt.precedenceTopics has an entry that is no MQTT topic filter, the 2nd (filters are separated "
                + "by commas)")
        let none = try load(#"{"mqtt": {"precedenceTopics": ""}}"#)
        #expect(none.serverConfiguration.broker.precedenceTopics == [])
        let two = try load(#"{"mqtt": {"precedenceTopics": "a/+, b/#"}}"#)
        #expect(two.serverConfiguration.broker.precedenceTopics == ["a/+", "b/#"])
    }

    /// Two listeners on one port of one address could not both start; different addresses, a disabled listener or
    /// port 0 can.
    @Test func listenersNeedPortsOfTheirOwn() throws {
        let same = try #require(error(#"{"admin": {"port": 8883}}"#))
        #expect(same.code == .invalidValue)
        #expect(same.key == "admin.port")
        #expect(
            same.reason
                == "admin.port is 8883 as mqtt.port is, on the same host; each listener needs a port of its own")
        let wildcard = try #require(
            error(#"{"mqtt": {"host": "0.0.0.0"}}"#, environment: ["PEACEHUB_MONITORING_PORT": "8883"]))
        #expect(wildcard.key == "monitoring.port")
        #expect(wildcard.source == "PEACEHUB_MONITORING_PORT")
        // The wildcard written any other way is the wildcard (--check-config passed these; serve failed to bind).
        for spelling in ["::0", "0:0:0:0:0:0:0:0", "0", "::ffff:0.0.0.0"] {
            let other = error(#"{"mqtt": {"host": "\#(spelling)"}, "admin": {"host": "127.0.0.1", "port": 8883}}"#)
            #expect(other?.key == "admin.port", "\(spelling)")
        }
        // The port that was set is named, not the default it met (the default's key was named, as set by "default").
        let monitoring = try #require(error(#"{"admin": {"port": 9883}}"#))
        #expect(monitoring.key == "admin.port")
        #expect(monitoring.source != "default")
        #expect(monitoring.reason.hasPrefix("admin.port is 9883 as monitoring.port is"))
        // One address written two ways is one address (--check-config passed it; serve then failed to bind).
        let spelled = try #require(error(#"{"admin": {"port": 8883, "host": "localhost"}}"#))
        #expect(spelled.reason.hasPrefix("admin.port is 8883 as mqtt.port is, on hosts that share an address"))
        // An IPv4-mapped IPv6 address binds the IPv4 address it maps.
        let mapped = try #require(error(#"{"admin": {"port": 8883, "host": "::ffff:127.0.0.1"}}"#))
        #expect(mapped.reason.hasPrefix("admin.port is 8883 as mqtt.port is, on hosts that share an address"))
        #expect(error(#"{"admin": {"port": 8883, "host": "10.0.0.1"}}"#) == nil)
        #expect(error(#"{"admin": {"port": 8883, "enabled": false}}"#) == nil)
        #expect(error(#"{"mqtt": {"port": 0}, "admin": {"port": 0}, "monitoring": {"port": 0}}"#) == nil)
    }

    @Test func environmentBeatsTheFile() throws {
        let configuration = try load(
            #"{"mqtt": {"port": 18883, "maximumInflight": 8}, "log": {"level": "warning"}}"#,
            environment: [
                "PEACEHUB_MQTT_PORT": "28883", "PEACEHUB_LOG_LEVEL": "debug", "PEACEHUB_TLS_SERVER_NAME": "hub",
                "PEACEHUB_BIN_DIR": "/elsewhere",
            ])
        #expect(configuration.mqtt.port == 28883)
        #expect(configuration.mqtt.maximumInflight == 8)
        #expect(configuration.log.level == .debug)
        #expect(configuration.tls.serverName == "hub")
    }

    /// Every key has a variable, named by `environmentName(of:)`, that swift-configuration reads.
    @Test func everyKeyHasAVariable() throws {
        let environment = [
            "PEACEHUB_DATA_DIRECTORY": "/d", "PEACEHUB_PLUGINS_DIRECTORY": "/p", "PEACEHUB_MQTT_HOST": "::1",
            "PEACEHUB_MQTT_PORT": "1", "PEACEHUB_MQTT_MAXIMUM_PACKET_SIZE": "2", "PEACEHUB_MQTT_MAXIMUM_INFLIGHT": "3",
            "PEACEHUB_MQTT_MAXIMUM_QUEUED": "4", "PEACEHUB_MQTT_MAXIMUM_CONNECTIONS": "5",
            "PEACEHUB_MQTT_MAXIMUM_CONNECTIONS_PER_PRINCIPAL": "6", "PEACEHUB_MQTT_DURABILITY": "power-loss",
            "PEACEHUB_MQTT_ROUTING_BUDGET_MILLISECONDS": "7", "PEACEHUB_MQTT_RECEIVE_MAXIMUM": "10",
            "PEACEHUB_MQTT_TOPIC_ALIAS_MAXIMUM": "11", "PEACEHUB_MQTT_MAXIMUM_SUBSCRIPTIONS_PER_SESSION": "12",
            "PEACEHUB_MQTT_MAXIMUM_KEEP_ALIVE_SECONDS": "13", "PEACEHUB_MQTT_MAXIMUM_SESSION_EXPIRY_SECONDS": "14",
            "PEACEHUB_MQTT_STORE_HOLD_MICROSECONDS": "17", "PEACEHUB_MQTT_CONNECT_TIMEOUT_SECONDS": "18",
            "PEACEHUB_MQTT_SYSTEM_REPORT_INTERVAL_SECONDS": "19", "PEACEHUB_MQTT_EVENT_LOOP_THREADS": "20",
            "PEACEHUB_MQTT_PRECEDENCE_TOPICS": "ops/#", "PEACEHUB_TLS_SERVER_NAME": "s",
            "PEACEHUB_TLS_MINIMUM_VERSION": "1.2", "PEACEHUB_TLS_HANDSHAKE_TIMEOUT_SECONDS": "8",
            "PEACEHUB_TLS_CIPHER_SUITES": "TLS_CHACHA20_POLY1305_SHA256",
            "PEACEHUB_TLS_CRL_WARNING_DAYS": "9", "PEACEHUB_LOG_LEVEL": "error", "PEACEHUB_LOG_FORMAT": "json",
            "PEACEHUB_SHUTDOWN_TIMEOUT_SECONDS": "15", "PEACEHUB_TLS_WATCH_INTERVAL_SECONDS": "16",
            "PEACEHUB_ADMIN_ENABLED": "false", "PEACEHUB_ADMIN_HOST": "::", "PEACEHUB_ADMIN_PORT": "10",
            "PEACEHUB_ADMIN_MAXIMUM_BODY_SIZE": "4096", "PEACEHUB_MONITORING_ENABLED": "no",
            "PEACEHUB_MONITORING_HOST": "0.0.0.0", "PEACEHUB_MONITORING_PORT": "11",
            "PEACEHUB_ADMIN_MAXIMUM_CONNECTIONS": "21", "PEACEHUB_MONITORING_MAXIMUM_CONNECTIONS": "22",
            "PEACEHUB_MQTT_MAXIMUM_RETAINED_PER_PRINCIPAL": "23",
        ]
        #expect(Set(HubConfiguration.keys.map(HubConfiguration.environmentName(of:))) == Set(environment.keys))
        let configuration = try HubConfiguration.load(file: nil, environment: environment)
        #expect(configuration.dataDirectory == "/d")
        #expect(configuration.pluginsDirectory == "/p")
        #expect(configuration.mqtt.host == "::1")
        #expect(configuration.mqtt.precedenceTopicFilters == ["ops/#"])
        let numbers = [
            configuration.mqtt.port, configuration.mqtt.maximumPacketSize, configuration.mqtt.maximumInflight,
            configuration.mqtt.maximumQueued, configuration.mqtt.maximumConnections,
            configuration.mqtt.maximumConnectionsPerPrincipal, configuration.mqtt.routingBudgetMilliseconds,
            configuration.tls.handshakeTimeoutSeconds, configuration.tls.crlWarningDays, configuration.mqtt.receiveMaximum,
            configuration.mqtt.topicAliasMaximum, configuration.mqtt.maximumSubscriptionsPerSession,
            configuration.mqtt.maximumKeepAliveSeconds, configuration.mqtt.maximumSessionExpirySeconds,
            configuration.shutdownTimeoutSeconds, configuration.tls.watchIntervalSeconds,
            configuration.mqtt.storeHoldMicroseconds, configuration.mqtt.connectTimeoutSeconds,
            configuration.mqtt.systemReportIntervalSeconds, configuration.mqtt.eventLoopThreads,
        ]
        #expect(numbers == Array(1...20))
        #expect(configuration.mqtt.maximumRetainedPerPrincipal == 23)
        #expect(configuration.mqtt.durability == .powerLoss)
        #expect(configuration.tls.serverName == "s")
        #expect(configuration.tls.minimumVersion == .tlsv1_2)
        #expect(configuration.tls.cipherSuites == "TLS_CHACHA20_POLY1305_SHA256")
        #expect(configuration.log.level == .error)
        #expect(configuration.log.format == .json)
        #expect(!configuration.admin.enabled && configuration.admin.host == "::" && configuration.admin.port == 10)
        #expect(configuration.admin.maximumBodySize == 4096)
        #expect(configuration.admin.maximumConnections == 21 && configuration.monitoring.maximumConnections == 22)
        #expect(!configuration.monitoring.enabled && configuration.monitoring.host == "0.0.0.0")
        #expect(configuration.monitoring.port == 11)
    }

    @Test func olderDirectoryVariablesStillWork() throws {
        let older = ["PEACEHUB_DATA_DIR": "/srv/a", "PEACEHUB_PLUGINS_DIR": "/srv/plugins"]
        let configuration = try load(#"{"dataDirectory": "/srv/file"}"#, environment: older)
        #expect(configuration.dataDirectory == "/srv/a")
        #expect(configuration.pluginsDirectory == "/srv/plugins")
        let both = try HubConfiguration.load(
            file: nil, environment: older.merging(["PEACEHUB_DATA_DIRECTORY": "/srv/b"]) { $1 })
        #expect(both.dataDirectory == "/srv/b")
    }

    @Test func badVariablesAreNamed() throws {
        let port = try #require(error("{}", environment: ["PEACEHUB_MQTT_PORT": "x"]))
        #expect(port.code == .wrongType)
        #expect(port.key == "mqtt.port")
        #expect(port.description == "PEACEHUB_MQTT_PORT: mqtt.port must be an integer")

        let level = try #require(error("{}", environment: ["PEACEHUB_LOG_LEVEL": "loud"]))
        #expect(level.code == .invalidValue)
        #expect(level.source == "PEACEHUB_LOG_LEVEL")

        let flag = try #require(error("{}", environment: ["PEACEHUB_ADMIN_ENABLED": "maybe"]))
        #expect(flag.description == "PEACEHUB_ADMIN_ENABLED: admin.enabled must be true or false")
        #expect(error("{}", environment: ["PEACEHUB_MONITORING_PROT": "1"])?.code == .unknownKey)

        let typo = try #require(error("{}", environment: ["PEACEHUB_MQTT_PROT": "1"]))
        #expect(typo.code == .unknownKey)
        #expect(
            typo.description
                == "PEACEHUB_MQTT_PROT: no setting is named by this variable (did you mean PEACEHUB_MQTT_PORT?)")
    }

    /// `serve --port` and its kind win over the file and the variables, and are checked as they are: 99,999 once
    /// bound port 34,463.
    @Test func commandLineOptionsAreCheckedLikeTheKeys() throws {
        let environment = ["PEACEHUB_MQTT_PORT": "1884"]
        func loaded(_ options: [String: String]) throws(ConfigurationError) -> HubConfiguration {
            try HubConfiguration.load(file: nil, environment: environment, commandLine: options)
        }
        #expect(try loaded(["mqtt.port": "1885", "mqtt.host": "::1"]).mqtt.port == 1885)
        #expect(try loaded([:]).mqtt.port == 1884)
        do throws(ConfigurationError) {
            _ = try loaded(["mqtt.port": "99999"])
            Issue.record("port 99999 accepted")
        } catch {
            #expect(error.code == .invalidValue)
            #expect(error.description == "the command line: mqtt.port must be between 0 and 65535, not 99999")
        }
        do throws(ConfigurationError) {
            _ = try loaded(["mqtt.host": ""])
            Issue.record("an empty host accepted")
        } catch {
            #expect(error.key == "mqtt.host")
            #expect(error.source == "the command line")
        }
    }

    @Test func moduleConfigurationIsPassedThrough() throws {
        let configuration = try load(
            """
            {"modules": {"org.peacehub.unifil": {"zones": [{"name": "A", "radius": 2.5}], "strict": true, "x": null}}}
            """)
        let expected: JSONValue = ["zones": [["name": "A", "radius": 2.5]], "strict": true, "x": nil]
        #expect(configuration.moduleConfiguration("org.peacehub.unifil") == expected)
        #expect(configuration.moduleConfiguration("org.peacehub.minurso") == [:])
    }

    @Test func serverConfigurationFollowsTheSettings() throws {
        var configuration = HubConfiguration()
        configuration.dataDirectory = "/srv/peacehub"
        configuration.mqtt.port = 0
        configuration.mqtt.maximumConnectionsPerPrincipal = 3
        configuration.mqtt.durability = .powerLoss
        configuration.tls.serverName = "hub"
        configuration.tls.minimumVersion = .tlsv1_2
        configuration.tls.cipherSuites = "TLS_AES_256_GCM_SHA384"
        configuration.tls.crlWarningDays = 2
        configuration.shutdownTimeoutSeconds = 3
        configuration.mqtt.storeHoldMicroseconds = 750
        #expect(configuration.serverConfiguration.threads == System.coreCount)
        configuration.mqtt.eventLoopThreads = 1
        let server = configuration.serverConfiguration
        #expect(server.threads == 1)
        #expect(server.port == 0)
        #expect(server.broker.maximumConnectionsPerPrincipal == 3)
        #expect(server.broker.storeHoldTime == .microseconds(750))
        #expect(server.durability == .powerLoss)
        #expect(server.storePath == "/srv/peacehub/broker.sqlite")
        #expect(server.tls.certificateFile == "/srv/peacehub/pki/server/hub.pem")
        #expect(server.tls.privateKeyFile == "/srv/peacehub/pki/server/hub.key")
        #expect(server.tls.trustedCAFile == "/srv/peacehub/pki/ca.pem")
        #expect(server.tls.crlFile == "/srv/peacehub/pki/crl.pem")
        #expect(server.tls.minimumVersion == .tlsv1_2)
        #expect(server.tls.cipherSuites == "TLS_AES_256_GCM_SHA384")
        #expect(server.tls.crlWarningWindow == TimeInterval(2 * 24 * 3600))
        #expect(server.shutdownTimeout == .seconds(3))
        #expect(configuration.resolvedPluginsDirectory.path == "/srv/peacehub/plugins")
    }

    @Test func validateFilesNamesTheMissingCertificate() throws {
        let data = try TemporaryDirectory(prefix: "phub-config")
        defer { data.remove() }
        var configuration = HubConfiguration()
        configuration.dataDirectory = data.url.path
        #expect(throws: ConfigurationError.self) { try configuration.validateFiles() }

        let pki = PKI(directory: data.url.appendingPathComponent("pki"))
        _ = try pki.initialize()
        _ = try pki.issueServer(hosts: ["localhost"])
        try configuration.validateFiles()

        configuration.tls.serverName = "hub.example.org"
        do {
            try configuration.validateFiles()
            Issue.record("a missing server certificate passed")
        } catch {
            #expect(error.code == .missingFile)
            #expect(error.key == "tls.serverName")
            #expect(error.source == data.path("pki/server/hub.example.org.pem"))
            // The certificate that was issued is named, with the key that selects it.
            #expect(
                error.reason
                    == "the server certificate does not exist: set tls.serverName to the certificate's name "
                    + "(issued: localhost)")
        }

        // A folder where the certificate should be: running as root, permissions alone cannot make it unreadable.
        try FileManager.default.createDirectory(
            atPath: data.path("pki/server/hub.example.org.pem"), withIntermediateDirectories: false)
        do {
            try configuration.validateFiles()
            Issue.record("a folder passed as the server certificate")
        } catch {
            #expect(error.code == .unreadableFile)
            #expect(error.description.contains("cannot read the server certificate"))
        }
    }
}

/// What a reload (SIGHUP) may change while the hub runs, and what it reports as needing a restart.
@Suite struct ReloadableKeysTests {
    @Test func changedKeysNameEveryDifferenceIncludingModules() {
        let before = HubConfiguration()
        var after = before
        after.mqtt.port = 1
        after.mqtt.maximumQueued = 5
        after.log.level = .debug
        after.modules["org.peacehub.unifil"] = ["strict": true]
        #expect(after.changedKeys(from: before) == ["mqtt.port", "mqtt.maximumQueued", "log.level", "modules.org.peacehub.unifil"])
        #expect(before.changedKeys(from: before).isEmpty)
    }

    @Test func aReloadTakesTheReloadableKeysOnly() {
        let running = HubConfiguration()
        var file = running
        file.mqtt.maximumConnectionsPerPrincipal = 1
        file.mqtt.routingBudgetMilliseconds = 100
        file.tls.handshakeTimeoutSeconds = 9
        file.log.level = .trace
        file.shutdownTimeoutSeconds = 2
        file.mqtt.port = 1
        file.dataDirectory = "/elsewhere"
        file.mqtt.durability = .powerLoss
        file.log.format = .json
        file.modules["org.peacehub.unifil"] = ["strict": true]
        let applied = running.takingReloadableKeys(of: file)
        #expect(applied.mqtt.maximumConnectionsPerPrincipal == 1)
        #expect(applied.mqtt.routingBudgetMilliseconds == 100)
        #expect(applied.tls.handshakeTimeoutSeconds == 9)
        #expect(applied.log.level == .trace)
        #expect(applied.shutdownTimeoutSeconds == 2)
        let restartOnly = applied.changedKeys(from: file)
        #expect(restartOnly == ["dataDirectory", "mqtt.port", "mqtt.durability", "log.format", "modules.org.peacehub.unifil"])
        #expect(restartOnly.allSatisfy { !HubConfiguration.reloadableKeys.contains($0) })
    }

    /// Every reloadable key is a real key, and docs/configuration.md says which keys reload.
    @Test func reloadableKeysAreKnownAndDocumented() throws {
        #expect(HubConfiguration.reloadableKeys.isSubset(of: Set(HubConfiguration.keys)))
        let docs = try String(
            contentsOf: TestEnvironment.packageRoot.appendingPathComponent("docs/configuration.md"), encoding: .utf8)
        for key in HubConfiguration.keys {
            let row = try #require(docs.split(separator: "\n").first { $0.hasPrefix("| `\(key)` |") }, "\(key) has no row")
            let says = row.contains("| reload |") ? "reload" : row.contains("| restart |") ? "restart" : "nothing"
            #expect(says == (HubConfiguration.reloadableKeys.contains(key) ? "reload" : "restart"), "\(key): \(row)")
        }
    }
}
