using System.Text.Json.Serialization;
using Executor.Contracts;

namespace Executor.Runner.Sandboxes;

/// <summary>A kernel job's header (frames.md, section 7): the launcher keeps the script's process as a kernel.</summary>
internal sealed record KernelHeader(string Mode, KernelFileBounds Files)
{
    public const string Kernel = "kernel";

    /// <summary>For a sandbox with egress (as a run's job has it); absent otherwise, leaving the header's bytes as before.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public LauncherEgress? Egress { get; init; }
}

/// <summary>The bounds of a sandbox's working directory as its file operations see them.</summary>
public sealed record KernelFileBounds(long MaxFileBytes, long MaxTotalBytes, int MaxCount);

/// <summary>A <c>q</c> frame: run the code in the kernel's namespace (or a context's; what is left out is the default).</summary>
internal sealed record KernelCallRequest(string Id, string Code, long TimeoutMs, long OutputLimitBytes, bool Interactive, string Stdin)
{
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Context { get; init; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public bool ResetContext { get; init; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public IReadOnlyDictionary<string, string>? Env { get; init; }
}

/// <summary>An <c>R</c> frame: a fresh kernel.</summary>
internal sealed record KernelRestartRequest(string Id);

/// <summary>An <c>F</c> frame's line: put, get, list or delete a path relative to /sandbox.</summary>
internal sealed record KernelFileRequest(string Id, string Op, string Path);

/// <summary>A <c>y</c> frame: how a call (or a restart) ended, as the launcher measured it.</summary>
public sealed record KernelCallRecord(
    string Id,
    string Status,
    int? ExecutionCount,
    double? WallMs,
    double? CpuMs,
    long? MaxRssBytes,
    bool StdoutTruncated,
    bool StderrTruncated,
    bool KernelRestarted);

/// <summary>A <c>g</c> frame's line: a file operation's answer (a got file's content follows the line).</summary>
public sealed record KernelFileAnswer(string Id, bool Ok, string? Error, long? Size, IReadOnlyList<SandboxFileEntry>? Entries);

/// <summary>A call's stdout or stderr as Jupyter's nbformat 4 has it among the call's outputs.</summary>
internal sealed record StreamOutput(string OutputType, string Name, string Text);

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower)]
[JsonSerializable(typeof(KernelHeader))]
[JsonSerializable(typeof(KernelCallRequest))]
[JsonSerializable(typeof(KernelRestartRequest))]
[JsonSerializable(typeof(KernelFileRequest))]
[JsonSerializable(typeof(KernelCallRecord))]
[JsonSerializable(typeof(KernelFileAnswer))]
[JsonSerializable(typeof(StreamOutput))]
internal sealed partial class KernelJsonContext : JsonSerializerContext;
