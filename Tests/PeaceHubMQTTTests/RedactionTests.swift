import PeaceHubMQTT
import Testing

/// A CONNECT's password never shows when the packet is printed, alone or inside `MQTTPacket`.
@Suite struct RedactionTests {
    @Test func aPrintedCONNECTHidesItsCredentials() {
        let connect = MQTTPacket.Connect(
            clientID: "kaz-1", username: "kaz-user", password: Array("s3cret-pass".utf8))
        for text in [
            "\(connect)", String(reflecting: connect), "\(MQTTPacket.connect(connect))",
            String(reflecting: MQTTPacket.connect(connect)), "\([MQTTPacket.connect(connect)])",
        ] {
            #expect(!text.contains("s3cret"), "\(text)")
            #expect(!text.contains("115, 51, 99"), "\(text)")  // the password's bytes
            #expect(!text.contains("kaz-user"), "\(text)")
            #expect(text.contains("kaz-1"), "\(text)")
        }
    }
}
