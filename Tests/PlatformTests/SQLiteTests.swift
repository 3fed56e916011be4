import Foundation
import Testing
@testable import Platform

@Suite struct SQLiteTests {
    func temporaryDatabase() throws -> (SQLiteDatabase, String) {
        let path = NSTemporaryDirectory() + "/sqlite-test-\(UUID().uuidString).db"
        return (try SQLiteDatabase(path: path), path)
    }

    @Test func roundTripsEveryType() throws {
        let (db, path) = try temporaryDatabase()
        defer { try? FileManager.default.removeItem(atPath: path) }
        try db.execute("CREATE TABLE t (i INTEGER, r REAL, s TEXT, b BLOB, n)")
        try db.query("INSERT INTO t VALUES (?, ?, ?, ?, ?)",
                     [.integer(-5_000_000_000), .real(2.5), .text("ü ' \" x"), .blob([0, 1, 255]), .null])
        let rows = try db.query("SELECT i, r, s, b, n FROM t")
        #expect(rows == [[.integer(-5_000_000_000), .real(2.5), .text("ü ' \" x"), .blob([0, 1, 255]), .null]])
    }

    @Test func transactionRollsBackOnError() throws {
        let (db, path) = try temporaryDatabase()
        defer { try? FileManager.default.removeItem(atPath: path) }
        try db.execute("CREATE TABLE t (k INTEGER PRIMARY KEY)")
        struct Boom: Error {}
        #expect(throws: Boom.self) {
            try db.transaction {
                try db.query("INSERT INTO t VALUES (1)")
                throw Boom()
            }
        }
        #expect(try db.query("SELECT count(*) FROM t") == [[.integer(0)]])
        try db.transaction { try db.query("INSERT INTO t VALUES (2)") }
        #expect(try db.query("SELECT k FROM t") == [[.integer(2)]])
    }

    @Test func reportsErrorsWithTheirMessage() throws {
        let (db, path) = try temporaryDatabase()
        defer { try? FileManager.default.removeItem(atPath: path) }
        do {
            try db.query("SELECT * FROM missing")
            Issue.record("expected an error")
        } catch let e as SQLiteError {
            #expect(e.message.contains("no such table"))
        }
    }
}
