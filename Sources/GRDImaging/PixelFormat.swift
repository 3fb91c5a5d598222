/// Pixel formats the capture stage delivers. MJPEG is decoded with DCT scaling;
/// YUYV and GREY are converted in place.
public enum PixelFormat: String, Sendable, CaseIterable {
    case mjpeg = "MJPG"
    case yuyv = "YUYV"
    case grey = "GREY"
}

