/// Brightness and focus of an image: what drifts first on a production line (a dying lamp, a
/// camera knocked out of focus), measured on every passed part and compared with commissioning.
public struct ImageStatistics: Equatable, Sendable {
    /// Mean grey level, 0...255 (RGB is averaged over channels).
    public var meanBrightness: Double
    /// Variance of the 4-neighbour Laplacian of the grey image: falls when focus is lost.
    public var focus: Double

    public init(meanBrightness: Double, focus: Double) {
        self.meanBrightness = meanBrightness
        self.focus = focus
    }

    public init(of image: Image) {
        let w = image.width, h = image.height, c = image.channels
        if w == 0 || h == 0 { self.init(meanBrightness: 0, focus: 0); return }
        var sum = 0
        for v in image.pixels { sum += Int(v) }
        let mean = Double(sum) / Double(image.pixels.count)
        guard w >= 3 && h >= 3 else { self.init(meanBrightness: mean, focus: 0); return }
        @inline(__always) func grey(_ x: Int, _ y: Int) -> Int {
            let i = (y * w + x) * c
            if c == 1 { return Int(image.pixels[i]) }
            return (Int(image.pixels[i]) + Int(image.pixels[i + 1]) + Int(image.pixels[i + 2])) / 3
        }
        var s = 0.0, s2 = 0.0
        for y in 1..<(h - 1) {
            for x in 1..<(w - 1) {
                let lap = Double(4 * grey(x, y) - grey(x - 1, y) - grey(x + 1, y) - grey(x, y - 1) - grey(x, y + 1))
                s += lap
                s2 += lap * lap
            }
        }
        let n = Double((w - 2) * (h - 2))
        let m = s / n
        self.init(meanBrightness: mean, focus: max(0, s2 / n - m * m))
    }
}

extension ImageStatistics {
    /// The same figures from raw HWC pixels (the inspection thread's model input): no copy, no
    /// allocation.
    public init(pixels: UnsafeBufferPointer<UInt8>, width w: Int, height h: Int, channels c: Int) {
        let n = w * h * c
        if w == 0 || h == 0 || pixels.count < n { self.init(meanBrightness: 0, focus: 0); return }
        let p = pixels.baseAddress!
        var sum = 0
        var i = 0
        while i < n { sum &+= Int(p[i]); i += 1 }
        let mean = Double(sum) / Double(n)
        guard w >= 3 && h >= 3 else { self.init(meanBrightness: mean, focus: 0); return }
        @inline(__always) func grey(_ x: Int, _ y: Int) -> Int {
            let i = (y * w + x) * c
            if c == 1 { return Int(p[i]) }
            return (Int(p[i]) + Int(p[i + 1]) + Int(p[i + 2])) / 3
        }
        var s = 0.0, s2 = 0.0
        var y = 1
        while y < h - 1 {
            var x = 1
            while x < w - 1 {
                let lap = Double(4 * grey(x, y) - grey(x - 1, y) - grey(x + 1, y) - grey(x, y - 1) - grey(x, y + 1))
                s += lap
                s2 += lap * lap
                x += 1
            }
            y += 1
        }
        let count = Double((w - 2) * (h - 2))
        let m = s / count
        self.init(meanBrightness: mean, focus: max(0, s2 / count - m * m))
    }
}
