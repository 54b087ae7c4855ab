namespace Executor.Sandbox;

/// <summary>
/// The launcher (launcher.py) every sandbox runs as PID 1. It travels in the container's command rather than
/// in the image, so any Python image works and the image never goes stale when the protocol changes.
/// </summary>
public static class Launcher
{
    public const string WorkDirectory = "/sandbox";

    public static string Source { get; } = LoadSource();

    /// <summary>Isolated mode (-I): no user site, no PYTHON* variables, no script directory on sys.path.</summary>
    public static IList<string> Command => ["python3", "-I", "-c", Source];

    private static string LoadSource()
    {
        using var stream = typeof(Launcher).Assembly.GetManifestResourceStream("Executor.Sandbox.launcher.py")
            ?? throw new InvalidOperationException("launcher.py is not embedded in this assembly");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }
}
