/// The product's version, shown by `--version`, in status replies and in audit records.
public enum ProductVersion {
    public static let string = "0.1.0"
}
