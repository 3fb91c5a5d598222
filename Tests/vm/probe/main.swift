// vmprobe: the product's own GPIO and sd_notify code, driven from shell tests inside the VM.
//
// Compiled by Tests/vm/run with swiftc from the product's sources (Sources/GRDRejectIO/*.swift
// and Sources/GRDAgent/SystemdNotifier.swift) plus this file, so what the guest exercises is the
// product's GPIODOutputLine and SystemdNotifier, not a copy. Hand-written argument handling keeps
// it a single swiftc call without package resolution.
#if canImport(Glibc)
import Glibc
#endif

setvbuf(stdout, nil, _IOLBF, 0)

func fail(_ message: String) -> Never {
    fputs("vmprobe: \(message)\n", stderr)
    exit(1)
}

func touch(_ path: String) {
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
    if fd < 0 { fail("cannot create \(path): \(String(cString: strerror(errno)))") }
    close(fd)
}

let usage = """
    usage: vmprobe output CHIP OFFSET active-low(0|1) value(0|1) READY_FILE HOLD_SECONDS
             requests the line through GPIODOutputLine, sets it active/inactive, creates
             READY_FILE, holds for HOLD_SECONDS, then releases it and exits
           vmprobe notify MESSAGE        sends MESSAGE (\\n = newline) with SystemdNotifier
           vmprobe notify-daemon PINGS DEVICE...
             a Type=notify service: opens each DEVICE, sends READY=1 with the results in STATUS,
             then WATCHDOG=1 every WATCHDOG_USEC/2 PINGS times, then STATUS=stopped pinging and
             hangs without pinging
           vmprobe notify-listen PATH COUNT TIMEOUT_SECONDS
             binds a datagram socket at PATH (@name = abstract), prints COUNT messages
    """

let args = Array(CommandLine.arguments.dropFirst())
guard let command = args.first else { fail(usage) }

switch command {
case "output":
    guard args.count == 7, let offset = UInt32(args[2]), let activeLow = Int(args[3]),
          let value = Int(args[4]), let hold = Double(args[6]) else { fail(usage) }
    let line: GPIODOutputLine
    do {
        line = try GPIODOutputLine(chipPath: args[1], offset: offset, consumer: "grd-vmprobe",
                                   activeLow: activeLow != 0)
        try line.set(value != 0)
    } catch {
        fail("\(error)")
    }
    print("holding \(line.name) active=\(value != 0) activeLow=\(activeLow != 0) with \(GPIODOutputLine.libraryDescription)")
    touch(args[5])
    usleep(useconds_t(hold * 1_000_000))
    withExtendedLifetime(line) {}

case "notify":
    guard args.count == 2 else { fail(usage) }
    let notifier = SystemdNotifier.fromProcessEnvironment()
    guard notifier.isEnabled else { fail("NOTIFY_SOCKET is not set") }
    let message = args[1].split(separator: "\\", omittingEmptySubsequences: false)
        .enumerated().map { i, part in i == 0 ? String(part) : (part.hasPrefix("n") ? "\n" + part.dropFirst() : "\\" + part) }
        .joined()
    if !notifier.notify(message) { fail("sending to \(notifier.socketPath ?? "-") failed: \(String(cString: strerror(errno)))") }

case "notify-daemon":
    guard args.count >= 2, let pings = Int(args[1]) else { fail(usage) }
    let opened = args.dropFirst(2).map { path -> String in
        let fd = open(path, O_RDWR | O_CLOEXEC)
        if fd < 0 { return "\(path) \(String(cString: strerror(errno)))" }
        close(fd)
        return "\(path) ok"
    }.joined(separator: ", ")
    let notifier = SystemdNotifier.fromProcessEnvironment()
    print("devices: \(opened)")
    guard notifier.notify("READY=1\nSTATUS=devices: \(opened)") else { fail("READY=1 not sent") }
    if let usec = SystemdNotifier.watchdogIntervalMicroseconds() {
        for i in 0..<pings {
            usleep(useconds_t(usec / 2))
            _ = i
            notifier.notify("WATCHDOG=1")
        }
        notifier.notify("STATUS=stopped pinging")
        print("stopped pinging the watchdog")
    }
    while true { pause() }

case "notify-listen":
    guard args.count == 4, let count = Int(args[2]), let timeout = Int32(args[3]) else { fail(usage) }
    var path = Array(args[1].utf8)
    let abstract = path.first == UInt8(ascii: "@")
    if abstract { path[0] = 0 } else { unlink(args[1]) }
    var addr = sockaddr_un()
    addr.sun_family = sa_family_t(AF_UNIX)
    withUnsafeMutableBytes(of: &addr.sun_path) { raw in for (i, b) in path.enumerated() { raw[i] = b } }
    let length = socklen_t(MemoryLayout<sa_family_t>.size + path.count + (abstract ? 0 : 1))
    let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    let bound = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
    if fd < 0 || bound < 0 { fail("cannot bind \(args[1]): \(String(cString: strerror(errno)))") }
    print("listening")
    var buffer = [UInt8](repeating: 0, count: 4096)
    for _ in 0..<count {
        var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        if poll(&pfd, 1, timeout * 1000) <= 0 { fail("no message within \(timeout) s") }
        let n = recv(fd, &buffer, buffer.count, 0)
        if n < 0 { fail("recv: \(String(cString: strerror(errno)))") }
        let text = String(decoding: buffer[0..<n], as: UTF8.self)
        print("message: " + text.split(separator: "\n", omittingEmptySubsequences: false).joined(separator: "|"))
    }

default:
    fail(usage)
}
