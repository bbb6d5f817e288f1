import COpenSSL
import COpenSSLShim
import Testing

/// The one BIO `TLSConnection` gives OpenSSL: the window it reads the network's buffer through, and the sink it
/// writes records into.
@Suite struct BIOTests {
    @Test func theWindowGivesItsBytesOnceThenAsksForARetry() throws {
        let bio = try #require(phub_connection_bio_new())
        defer { BIO_free(bio) }
        let bytes: [UInt8] = Array(0..<10)
        var out = [UInt8](repeating: 0, count: 100)
        bytes.withUnsafeBytes { phub_window_bio_set(bio, $0.baseAddress, $0.count) }
        #expect(BIO_ctrl(bio, BIO_CTRL_PENDING, 0, nil) == 10)
        #expect(BIO_read(bio, &out, 4) == 4)
        #expect(BIO_read(bio, &out[4], 100) == 6)
        #expect(Array(out[0..<10]) == bytes)
        #expect(BIO_read(bio, &out, 100) == -1)
        #expect(BIO_test_flags(bio, BIO_FLAGS_SHOULD_RETRY | BIO_FLAGS_READ) == BIO_FLAGS_SHOULD_RETRY | BIO_FLAGS_READ)
        #expect(phub_window_bio_clear(bio) == 10)
    }

    @Test func theSinkWritesIntoTheLentRoomAndSpillsTheRestInOrder() throws {
        let bio = try #require(phub_connection_bio_new())
        defer { BIO_free(bio) }
        #expect(BIO_ctrl(bio, BIO_CTRL_FLUSH, 0, nil) == 1)
        var room = [UInt8](repeating: 0, count: 10)
        let used = room.withUnsafeMutableBytes { room in
            phub_sink_bio_lend(bio, room.baseAddress, room.count)
            #expect(BIO_write(bio, [1, 2, 3, 4, 5, 6] as [UInt8], 6) == 6)
            // Does not fit: spills, and so does all that follows, though it would fit.
            #expect(BIO_write(bio, [7, 8, 9, 10, 11, 12] as [UInt8], 6) == 6)
            #expect(BIO_write(bio, [13, 14] as [UInt8], 2) == 2)
            return phub_sink_bio_recall(bio)
        }
        #expect(used == 6)
        #expect(Array(room[0..<6]) == [1, 2, 3, 4, 5, 6])
        // Written with no room lent (a handshake flight, an alert): spilled too, growing past its first 4 KiB.
        let flight = [UInt8](repeating: 0xAB, count: 10_000)
        #expect(BIO_write(bio, flight, Int32(flight.count)) == Int32(flight.count))
        let length = phub_sink_bio_spill_length(bio)
        #expect(length == 8 + flight.count)
        var spill = [UInt8](repeating: 0, count: length)
        spill.withUnsafeMutableBytes { phub_sink_bio_drain_spill(bio, $0.baseAddress) }
        #expect(spill == [7, 8, 9, 10, 11, 12, 13, 14] + flight)
        #expect(phub_sink_bio_spill_length(bio) == 0)
        var out = [UInt8](repeating: 0, count: 4)
        #expect(BIO_read(bio, &out, 4) <= 0)  // no window open
    }

    /// OpenSSL may write (a handshake flight, an alert) between the reads of one call: the window and the sink keep
    /// their own state.
    @Test func readsAndWritesInterleaveOnTheOneBIO() throws {
        let bio = try #require(phub_connection_bio_new())
        defer { BIO_free(bio) }
        let bytes: [UInt8] = [1, 2, 3, 4]
        var room = [UInt8](repeating: 0, count: 8)
        var out = [UInt8](repeating: 0, count: 8)
        let (taken, used) = bytes.withUnsafeBytes { window in
            room.withUnsafeMutableBytes { room in
                phub_window_bio_set(bio, window.baseAddress, window.count)
                phub_sink_bio_lend(bio, room.baseAddress, room.count)
                #expect(BIO_read(bio, &out, 2) == 2)
                #expect(BIO_write(bio, [9, 8, 7] as [UInt8], 3) == 3)
                #expect(BIO_ctrl(bio, BIO_CTRL_PENDING, 0, nil) == 2)
                #expect(BIO_ctrl(bio, BIO_CTRL_WPENDING, 0, nil) == 3)
                #expect(BIO_read(bio, &out[2], 8) == 2)
                #expect(BIO_read(bio, &out, 8) == -1)
                #expect(
                    BIO_test_flags(bio, BIO_FLAGS_SHOULD_RETRY | BIO_FLAGS_READ) == BIO_FLAGS_SHOULD_RETRY | BIO_FLAGS_READ)
                return (phub_window_bio_clear(bio), phub_sink_bio_recall(bio))
            }
        }
        #expect(taken == 4 && Array(out[0..<4]) == bytes)
        #expect(used == 3 && Array(room[0..<3]) == [9, 8, 7])
    }
}
