namespace Executor.Session.Sessions;

/// <summary>How a session's script is run, beyond its files: what the client asked for in the form.</summary>
public sealed record RunOptions(
    IReadOnlyList<string> Args,
    string? Stdin,
    int? TimeoutSeconds,
    int? MemoryMb)
{
    public static RunOptions None { get; } = new([], null, null, null);
}
