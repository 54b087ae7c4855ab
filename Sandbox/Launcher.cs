namespace Executor.Sandbox;

/// <summary>
/// The launcher (launcher.py) every sandbox runs as PID 1. It travels in the container's command rather than
/// in the image, so any Python image works and the image never goes stale when the protocol changes.
/// </summary>
public static class Launcher
{
    public const string WorkDirectory = "/sandbox";

    public static string Source { get; } = LoadSource();

    /// <summary>
    /// Isolated mode (-I): no user site, no PYTHON* variables, no script directory on sys.path. The launcher runs as
    /// root without capabilities but SETUID, SETGID and KILL; the script as <paramref name="user"/> (uid:gid), with none.
    /// It imports <paramref name="preimport"/> before it forks the script's process.
    /// </summary>
    public static IList<string> Command(string user, IReadOnlyList<string> preimport) =>
        ["python3", "-I", "-c", Source, user, string.Join(',', preimport)];

    /// <summary>What the launcher needs of root: becoming the sandbox's user in the script's process, and killing it.</summary>
    public static IList<string> Capabilities { get; } = ["SETUID", "SETGID", "KILL"];

    private static string LoadSource()
    {
        using var stream = typeof(Launcher).Assembly.GetManifestResourceStream("Executor.Sandbox.launcher.py")
            ?? throw new InvalidOperationException("launcher.py is not embedded in this assembly");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }
}
