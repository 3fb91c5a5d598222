#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Yams
import GRDRejectIO

public struct LiveCalibrationError: Error, CustomStringConvertible {
    public var description: String
    public init(_ d: String) { description = d }
}

/// Scores of the next N live parts of a running grdnetd, read over its control socket.
///
/// The daemon already writes every decision (part number, raw score, reason) into a preallocated
/// ring per camera and answers `decisions` from it; this polls that ring and keeps each part once.
/// So live calibration adds nothing to the inspection path: no new request, no copy per frame.
/// Parts decided by the fail-safe after an inspection error carry no score and are left out; late
/// parts keep their real score. The ring holds 256 parts per camera, so a 200 ms poll keeps up
/// with lines up to ~1000 parts/s; parts that scroll out unseen are counted, not guessed.
public struct LiveScoreCollector {
    public var socketPath: String
    /// The camera whose parts are scored; nil = the daemon's only camera.
    public var camera: String?
    public var pollMilliseconds: Int

    public init(socketPath: String, camera: String? = nil, pollMilliseconds: Int = 200) {
        self.socketPath = socketPath
        self.camera = camera
        self.pollMilliseconds = pollMilliseconds
    }

    public struct Collected {
        public var camera: String
        /// The camera's threshold when collection started.
        public var daemonThreshold: Double
        public var scores: [Double]
        /// Parts decided while collecting that were not seen (they left the ring between polls).
        public var missed: Int
        /// Parts skipped because inspection failed (fail-safe rejects without a score).
        public var failed: Int
        public var seconds: Double
    }

    /// Waits for `count` newly decided parts. Throws when the daemon is not reachable, the camera
    /// is paused, or fewer than `count` parts were scored within `timeoutSeconds`.
    public func collect(count: Int, timeoutSeconds: Double, progress: ((Int, Int) -> Void)? = nil) throws -> Collected {
        precondition(count > 0)
        let client: ControlClient
        do { client = try ControlClient.connect(path: socketPath) } catch { throw LiveCalibrationError("\(error)") }
        let status = try ask(client, ["cmd": "status"])
        let cams = status["cameras"] as? [[String: Any]] ?? []
        let names = cams.compactMap { $0["name"] as? String }
        let name: String
        if let camera {
            guard names.contains(camera) else {
                throw LiveCalibrationError("the daemon has no camera named '\(camera)' (cameras: \(names.joined(separator: ", ")))")
            }
            name = camera
        } else {
            guard names.count == 1 else {
                throw LiveCalibrationError("the daemon inspects \(names.count) cameras (\(names.joined(separator: ", "))): choose one with --camera")
            }
            name = names[0]
        }
        let threshold = (cams.first { $0["name"] as? String == name }?["threshold"] as? NSNumber)?.doubleValue ?? .nan
        var state = try cameraState(client, name)
        if state == "paused" { throw pausedError(name) }

        // Only parts decided from now on count: start after the newest part already in the ring.
        var lastPart = try decisions(client, name).map(\.part).max() ?? 0
        var scores: [Double] = []
        scores.reserveCapacity(count)
        var missed = 0, failed = 0
        let start = monotonicNow()
        let limit = UInt64(max(0, timeoutSeconds) * 1e9)
        var reported = -1
        while scores.count < count {
            if monotonicNow() &- start > limit {
                throw LiveCalibrationError(
                    "only \(scores.count) of \(count) live parts were scored on camera \(name) within \(fmtSeconds(timeoutSeconds)) s " +
                    "(camera state: \(state)\(failed > 0 ? ", \(failed) failed inspections" : "")); " +
                    "check that parts are running (grdnet status), or give a longer --timeout")
            }
            sleepMilliseconds(pollMilliseconds)
            state = try cameraState(client, name)
            if state == "paused" { throw pausedError(name) }
            let ring = try decisions(client, name).sorted { $0.part < $1.part }
            guard let newest = ring.last?.part else { continue }
            if newest < lastPart { lastPart = 0 }  // the pipeline was rebuilt (reload): numbering restarted
            for d in ring where d.part > lastPart {
                if d.part > lastPart + 1 && lastPart != 0 { missed += Int(d.part - lastPart - 1) }
                lastPart = d.part
                if d.reason == "error" { failed += 1; continue }
                if scores.count < count { scores.append(d.score) }
            }
            if let progress, scores.count != reported { reported = scores.count; progress(scores.count, count) }
        }
        return Collected(camera: name, daemonThreshold: threshold, scores: scores, missed: missed, failed: failed,
                         seconds: Double(monotonicNow() &- start) / 1e9)
    }

    private func pausedError(_ name: String) -> LiveCalibrationError {
        LiveCalibrationError("camera \(name) is paused, so no parts are scored: run `grdnet resume` and send good parts past the camera")
    }

    private func ask(_ client: ControlClient, _ body: [String: Any]) throws -> [String: Any] {
        let reply: [String: Any]
        do { reply = try client.request(body) } catch { throw LiveCalibrationError("\(socketPath): \(error)") }
        guard reply["ok"] as? Bool == true else {
            throw LiveCalibrationError("the daemon refused \(body["cmd"] ?? ""): \(reply["error"] as? String ?? "unknown error")")
        }
        return reply
    }

    private func cameraState(_ client: ControlClient, _ name: String) throws -> String {
        let cams = try ask(client, ["cmd": "status"])["cameras"] as? [[String: Any]] ?? []
        guard let c = cams.first(where: { $0["name"] as? String == name }) else {
            throw LiveCalibrationError("camera \(name) disappeared from the daemon (configuration reloaded?)")
        }
        return c["state"] as? String ?? "unknown"
    }

    private struct Seen { var part: UInt64; var score: Double; var reason: String }

    private func decisions(_ client: ControlClient, _ name: String) throws -> [Seen] {
        let list = try ask(client, ["cmd": "decisions", "n": 1000, "camera": name])["decisions"] as? [[String: Any]] ?? []
        return list.compactMap { d in
            guard let part = (d["part"] as? NSNumber)?.uint64Value, let score = (d["score"] as? NSNumber)?.doubleValue else { return nil }
            return Seen(part: part, score: score, reason: d["reason"] as? String ?? "")
        }
    }
}

private func fmtSeconds(_ s: Double) -> String { s == s.rounded() ? String(Int(s)) : String(s) }

/// Writes a threshold into a grdnetd YAML file by editing the one scalar in place, so comments,
/// key order and formatting stay as the engineer wrote them (a YAML round trip through a parser
/// would drop every comment). The result must pass the daemon's own config parser before it
/// replaces the file, atomically (temporary file in the same folder, fsync, rename).
public enum ConfigThresholdEditor {
    public struct Edit: Equatable {
        /// The new file text.
        public var text: String
        /// The key that now holds the threshold (threshold, or cameras[i].threshold) and its line.
        public var key: String
        public var line: Int
        /// True when the key was added, false when an existing value was replaced.
        public var inserted: Bool
    }

    /// Where the threshold for `camera` goes: the camera's own `threshold:` when it has one (it
    /// overrides the global one); otherwise, with several cameras, a new `threshold:` in that
    /// camera; otherwise the top-level `threshold:` (replaced, or added after `model:`).
    public static func edit(yaml: String, file: String, camera: String?, threshold: Float) throws -> Edit {
        let root: Node?
        do { root = try Yams.compose(yaml: yaml) } catch {
            throw LiveCalibrationError("\(file) is not valid YAML: \(error)")
        }
        guard let root, let top = root.mapping else { throw LiveCalibrationError("\(file): expected a mapping of settings") }
        let value = "\(threshold)"
        var lines = yaml.components(separatedBy: "\n")

        var cameraIndex: Int? = nil
        var cameraNode: Node.Mapping? = nil
        if case .sequence(let seq)? = top["cameras"] {
            let named = seq.enumerated().map { (i, n) in (i, n.mapping, n.mapping?["name"]?.string ?? "camera\(i)") }
            if let camera {
                guard let hit = named.first(where: { $0.2 == camera }) else {
                    throw LiveCalibrationError("\(file) has no camera named '\(camera)' (cameras: \(named.map(\.2).joined(separator: ", ")))")
                }
                cameraIndex = hit.0; cameraNode = hit.1
            } else if named.count == 1 {
                cameraIndex = 0; cameraNode = named[0].1
            }
            let cameraCount = seq.count
            if let cameraNode, let idx = cameraIndex {
                if let existing = cameraNode["threshold"] {
                    return try replace(existing, with: value, in: &lines, key: "cameras[\(idx)].threshold")
                }
                if cameraCount > 1 {
                    guard !isFlow(cameraNode, lines) else {
                        throw LiveCalibrationError("\(file): cameras[\(idx)] is written in flow style ({...}): add threshold: \(value) to it by hand")
                    }
                    return try insert("threshold: \(value)", into: cameraNode, in: &lines, key: "cameras[\(idx)].threshold", file: file)
                }
            } else if camera == nil && cameraCount > 1 {
                throw LiveCalibrationError("\(file) has \(cameraCount) cameras: say which one the threshold is for (--camera)")
            }
        }
        if let existing = top["threshold"] {
            return try replace(existing, with: value, in: &lines, key: "threshold")
        }
        guard !isFlow(top, lines) else { throw LiveCalibrationError("\(file) is written in flow style: add threshold: \(value) by hand") }
        return try insert("threshold: \(value)", into: top, in: &lines, key: "threshold", file: file)
    }

    /// True for a `{...}` mapping. (Yams reports the style of the mapping's end event, so the
    /// source text is asked instead: a flow mapping starts at its brace.)
    static func isFlow(_ m: Node.Mapping, _ lines: [String]) -> Bool {
        guard let mark = m.mark, mark.line >= 1, mark.line <= lines.count else { return false }
        let scalars = Array(lines[mark.line - 1].unicodeScalars)
        return mark.column >= 1 && mark.column <= scalars.count && scalars[mark.column - 1] == "{"
    }

    /// Replaces the scalar `node` (a number, possibly quoted) in its line, keeping a trailing comment.
    static func replace(_ node: Node, with value: String, in lines: inout [String], key: String) throws -> Edit {
        guard case .scalar = node, let mark = node.mark, mark.line >= 1, mark.line <= lines.count else {
            throw LiveCalibrationError("\(key) is not a plain value; set it by hand")
        }
        var scalars = Array(lines[mark.line - 1].unicodeScalars)
        let start = mark.column - 1
        guard start >= 0, start < scalars.count else { throw LiveCalibrationError("\(key): cannot find its value on line \(mark.line)") }
        var end = start
        if scalars[start] == "\"" || scalars[start] == "'" {
            let quote = scalars[start]
            end = start + 1
            while end < scalars.count && scalars[end] != quote { end += 1 }
            guard end < scalars.count else { throw LiveCalibrationError("\(key) on line \(mark.line) spans several lines; set it by hand") }
            end += 1
        } else {
            // A plain scalar ends at " #", ",", "}" or "]" (flow style), or the end of the line.
            while end < scalars.count {
                let c = scalars[end]
                if c == "," || c == "}" || c == "]" { break }
                if c == "#" && end > start && (scalars[end - 1] == " " || scalars[end - 1] == "\t") { break }
                end += 1
            }
            while end > start && (scalars[end - 1] == " " || scalars[end - 1] == "\t" || scalars[end - 1] == "\r") { end -= 1 }
        }
        scalars.replaceSubrange(start..<end, with: Array(value.unicodeScalars))
        var s = String.UnicodeScalarView()
        s.append(contentsOf: scalars)
        lines[mark.line - 1] = String(s)
        return Edit(text: lines.joined(separator: "\n"), key: key, line: mark.line, inserted: false)
    }

    /// Adds `entry` to a block mapping, on the line after one of its single-line scalar entries,
    /// at that key's indentation.
    static func insert(_ entry: String, into mapping: Node.Mapping, in lines: inout [String], key: String, file: String) throws -> Edit {
        let anchor = mapping.first { k, v in
            if case .scalar = v, let km = k.mark, let vm = v.mark, km.line == vm.line { return true }
            return false
        }
        guard let (k, _) = anchor, let mark = k.mark, mark.line <= lines.count else {
            throw LiveCalibrationError("\(file): no single-line setting to place \(key) after; add `\(entry)` by hand")
        }
        let indent = String(repeating: " ", count: mark.column - 1)
        lines.insert(indent + entry, at: mark.line)
        return Edit(text: lines.joined(separator: "\n"), key: key, line: mark.line + 1, inserted: true)
    }

    /// Edits `path` in place. The new text must load with AgentConfig (the daemon's parser) and
    /// give `camera` exactly `threshold`; only then it replaces the file, keeping its mode and owner.
    @discardableResult
    public static func write(threshold: Float, camera: String?, configPath: String) throws -> Edit {
        // A symlinked config (/etc/grdnet/grdnet.yaml -> ...) is edited where it lives.
        var resolved = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let path = realpath(configPath, &resolved) != nil ? String(cString: resolved) : configPath
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
            throw LiveCalibrationError("cannot read \(configPath) (\(String(cString: strerror(errno))))")
        }
        let e = try edit(yaml: text, file: configPath, camera: camera, threshold: threshold)
        let parsed: AgentConfig
        do { parsed = try AgentConfig.parse(yaml: e.text, file: configPath) } catch {
            let before = (try? AgentConfig.parse(yaml: text, file: configPath)) == nil
            throw LiveCalibrationError("\(configPath) was not changed: with the new threshold it does not validate\(before ? " (nor does it as it is now)" : ""):\n\(error)")
        }
        let cam = camera.flatMap { c in parsed.cameras.first { $0.name == c } } ?? (parsed.cameras.count == 1 ? parsed.cameras[0] : nil)
        let effective = cam?.threshold ?? parsed.threshold
        guard effective == threshold else {
            throw LiveCalibrationError("\(configPath) was not changed: the edited file would give \(cam.map { "camera \($0.name)" } ?? "the cameras") the threshold \(effective.map { "\($0)" } ?? "of the model file"), not \(threshold)")
        }
        try replaceAtomically(path: path, contents: Array(e.text.utf8))
        return e
    }

    /// Temporary file beside `path`, same mode and owner, fsync, rename, fsync of the folder.
    static func replaceAtomically(path: String, contents: [UInt8]) throws {
        var st = stat()
        let exists = stat(path, &st) == 0
        let dir = (path as NSString).deletingLastPathComponent
        let tmp = (dir.isEmpty ? "." : dir) + "/." + (path as NSString).lastPathComponent + ".grdnet-\(getpid()).tmp"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, exists ? (st.st_mode & 0o7777) : 0o644)
        guard fd >= 0 else { throw LiveCalibrationError("cannot write \(tmp): \(String(cString: strerror(errno)))") }
        var ok = true
        var off = 0
        while off < contents.count {
            let n = contents.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + off, $0.count - off) }
            if n < 0 { if errno == EINTR { continue }; ok = false; break }
            off += n
        }
        let err = errno
        if exists {
            _ = fchmod(fd, st.st_mode & 0o7777)
            if getuid() == 0 { _ = fchown(fd, st.st_uid, st.st_gid) }
        }
        if ok && fsync(fd) != 0 { ok = false }
        close(fd)
        guard ok else { unlink(tmp); throw LiveCalibrationError("cannot write \(tmp): \(String(cString: strerror(err)))") }
        guard rename(tmp, path) == 0 else {
            let e = errno; unlink(tmp)
            throw LiveCalibrationError("cannot replace \(path): \(String(cString: strerror(e)))")
        }
        let dfd = open(dir.isEmpty ? "." : dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dfd >= 0 { _ = fsync(dfd); close(dfd) }
    }
}
