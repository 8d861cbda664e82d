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

    /// Writes `data` atomically: to a temporary file in the same directory, flushed to disk,
    /// then renamed over `path`, so readers never see a partial file and a failed write
    /// leaves nothing behind.
    public static func writeAtomically(_ data: Data, to path: String) throws {
        try writeAllAtomically([(data, path)])
    }

    /// Writes several files as one step: every directory is checked and every temporary file
    /// written and flushed before the first rename, so a missing directory or a write that
    /// fails (a full disk) leaves none of the outputs; only a rename refused in between could
    /// leave the earlier ones. Temporary files (`.NAME.opbench-tmp-PID`) left by an earlier run that was
    /// killed inside a write are removed.
    public static func writeAllAtomically(_ files: [(data: Data, path: String)]) throws {
        for (_, path) in files {
            let dir = URL(fileURLWithPath: path).deletingLastPathComponent()
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: dir.path, isDirectory: &isDir), isDir.boolValue else {
                throw FileError(path, "directory \(dir.path) does not exist")
            }
        }
        var staged: [(tmp: String, path: String)] = []
        func discard() { for s in staged { unlink(s.tmp) } }
        for (data, path) in files {
            let url = URL(fileURLWithPath: path)
            let prefix = ".\(url.lastPathComponent).opbench-tmp-"
            removeStale(prefix: prefix, in: url.deletingLastPathComponent().path)
            let tmp = url.deletingLastPathComponent().appendingPathComponent(prefix + "\(getpid())").path
            do { try writeAndSync(data, to: tmp) } catch {
                unlink(tmp)
                discard()
                throw FileError(path, "cannot write a temporary file beside it (\(error))")
            }
            staged.append((tmp, path))
        }
        for (i, s) in staged.enumerated() where rename(s.tmp, s.path) != 0 {
            let reason = String(cString: strerror(errno))
            for r in staged[i...] { unlink(r.tmp) }
            throw FileError(s.path, "cannot replace the file (\(reason))")
        }
    }

    /// Writes `data` to a new file and flushes it to the disk.
    static func writeAndSync(_ data: Data, to path: String) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { throw FileError(path, String(cString: strerror(errno))) }
        defer { close(fd) }
        try data.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let n = write(fd, raw.baseAddress! + offset, raw.count - offset)
                guard n > 0 else { throw FileError(path, String(cString: strerror(errno))) }
                offset += n
            }
        }
        guard fsync(fd) == 0 else { throw FileError(path, String(cString: strerror(errno))) }
    }

    /// Removes temporary files of `prefix` whose process is gone (a run killed mid-write).
    static func removeStale(prefix: String, in dir: String) {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: dir) else { return }
        for name in names where name.hasPrefix(prefix) {
            guard let pid = Int32(name.dropFirst(prefix.count)), pid != getpid() else { continue }
            if kill(pid, 0) != 0 && errno == ESRCH { unlink(dir + "/" + name) }
        }
    }

    /// Writes UTF-8 text atomically.
    public static func writeAtomically(_ text: String, to path: String) throws {
        try writeAtomically(Data(text.utf8), to: path)
    }
}
