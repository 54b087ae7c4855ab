using System.Text.Json;

namespace Executor.Contracts;

/// <summary>The commands a stateful sandbox's host carries out (<see cref="SandboxCommand.Kind"/>).</summary>
public static class SandboxCommandKinds
{
    /// <summary>Lease a warm container of the runtime, start its kernel, keep it: the claiming host holds the sandbox.</summary>
    public const string Create = "create";

    /// <summary>Run <see cref="SandboxCommand.Code"/> in the kernel's namespace.</summary>
    public const string Run = "run";

    /// <summary>A fresh kernel in the same container (files kept).</summary>
    public const string Restart = "restart";

    public const string PutFile = "put_file";
    public const string GetFile = "get_file";
    public const string ListFiles = "list_files";
    public const string DeleteFile = "delete_file";

    public static IReadOnlyList<string> All { get; } = [Create, Run, Restart, PutFile, GetFile, ListFiles, DeleteFile];
}

/// <summary>
/// A command to a stateful sandbox, carried by a <see cref="RunJob"/> whose session id is the command's id.
/// </summary>
/// <param name="Code">Run: the code. With <see cref="ResetContext"/> it may be empty (the reset alone).</param>
/// <param name="Path">A file operation's path, relative to /sandbox ("" lists /sandbox).</param>
/// <param name="IdleTimeoutSeconds">Create: the host ends the sandbox after this long without a command (a backstop: SessionService ends it first).</param>
/// <param name="LifetimeSeconds">Create: the host ends the sandbox this long after it started (the same backstop).</param>
public sealed record SandboxCommand(
    string SandboxId,
    string Kind,
    string? Code = null,
    string? Path = null,
    int? IdleTimeoutSeconds = null,
    int? LifetimeSeconds = null)
{
    /// <summary>Run: the namespace the code runs in; null is the kernel's main one. Another is made the first time it is named.</summary>
    public string? Context { get; init; }

    /// <summary>Run: the context's namespace is emptied first (E2B's context restart).</summary>
    public bool ResetContext { get; init; }

    /// <summary>Run: environment variables set for this call only.</summary>
    public IReadOnlyDictionary<string, string>? Env { get; init; }
}

/// <summary>Statuses of <see cref="SandboxOutcome.Status"/>: a call's, as the launcher's call record has them, and a file operation's.</summary>
public static class SandboxStatus
{
    public const string Ok = "ok";
    public const string Error = "error";
    public const string TimedOut = "timed_out";
    public const string Interrupted = "interrupted";
    public const string MemoryExceeded = "memory_exceeded";
    public const string OutputLimitExceeded = "output_limit_exceeded";
    public const string KernelDied = "kernel_died";
    public const string Restarted = "restarted";

    /// <summary>The sandbox is not on this host any more (its container ended); the command did nothing.</summary>
    public const string SandboxGone = "sandbox_gone";

    // File operations' failures, as the launcher's file answer names them.
    public const string NotFound = "not_found";
    public const string IsADirectory = "is_a_directory";
    public const string NotADirectory = "not_a_directory";
    public const string BadPath = "bad_path";
    public const string TooLarge = "too_large";
    public const string TooManyFiles = "too_many_files";
    public const string NotEmpty = "not_empty";
    public const string Failed = "failed";
}

/// <summary>
/// What a sandbox command produced, beside the <see cref="RunResult"/> that carries it (whose Stdout, Stderr, Logs,
/// DurationMs, CpuTimeMs, PeakMemoryBytes and truncation flags are the call's; whose Files holds a got file).
/// </summary>
/// <param name="Status">See <see cref="SandboxStatus"/>.</param>
/// <param name="ExecutionCount">A call's: the kernel's execution count after it.</param>
/// <param name="Outputs">A call's outputs in order, as Jupyter's nbformat 4 has them (stream, execute_result, display_data, error).</param>
/// <param name="KernelRestarted">The kernel was killed and replaced during the command: the namespace is empty from now on.</param>
/// <param name="Entries">list_files: the files and directories under the path.</param>
/// <param name="Size">put_file, get_file: the file's size.</param>
public sealed record SandboxOutcome(
    string Status,
    int? ExecutionCount = null,
    IReadOnlyList<JsonElement>? Outputs = null,
    bool KernelRestarted = false,
    IReadOnlyList<SandboxFileEntry>? Entries = null,
    long? Size = null);

/// <summary>A file or directory of a sandbox's working directory; <see cref="Path"/> relative to /sandbox.</summary>
public sealed record SandboxFileEntry(string Path, long Size, string Type);

/// <summary>A sandbox that ended, and why (a host says which it ended itself; SessionService which the host must end).</summary>
public sealed record SandboxEnd(string SandboxId, string Reason);
