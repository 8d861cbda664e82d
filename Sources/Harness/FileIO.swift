import Foundation

/// A typed error for files OpBench reads or writes; the message names the file and the problem.
public struct FileError: Error, CustomStringConvertible, Equatable, Sendable {
    public let path: String
    public let problem: String
    public init(_ path: String, _ problem: String) { self.path = path; self.problem = problem }
    public var description: String { "\(path): \(problem)" }
}

/// Whole-file reads and atomic writes.
public enum FileIO {
    /// Reads a file, or throws a `FileError` saying why not.
    public static func read(_ path: String) throws -> Data {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else { throw FileError(path, "no such file") }
        guard !isDir.boolValue else { throw FileError(path, "is a directory, expected a file") }
        do { return try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw FileError(path, "cannot be read (\(error.localizedDescription))")
        }
    }

    /// Writes `data` atomically: to a temporary file in the same directory, then renamed over
    /// `path`, so readers never see a partial file and a failed write leaves nothing behind.
    public static func writeAtomically(_ data: Data, to path: String) throws {
        let url = URL(fileURLWithPath: path)
        let dir = url.deletingLastPathComponent()
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: dir.path, isDirectory: &isDir), isDir.boolValue else {
            throw FileError(path, "directory \(dir.path) does not exist")
        }
        let tmp = dir.appendingPathComponent(".\(url.lastPathComponent).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        guard FileManager.default.createFile(atPath: tmp.path, contents: data) else {
            throw FileError(path, "cannot write a temporary file in \(dir.path)")
        }
        if rename(tmp.path, url.path) != 0 {
            let reason = String(cString: strerror(errno))
            try? FileManager.default.removeItem(at: tmp)
            throw FileError(path, "cannot replace the file (\(reason))")
        }
    }

    /// Writes UTF-8 text atomically.
    public static func writeAtomically(_ text: String, to path: String) throws {
        try writeAtomically(Data(text.utf8), to: path)
    }
}
