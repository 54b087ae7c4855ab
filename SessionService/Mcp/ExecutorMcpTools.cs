using System.ComponentModel;
using System.Text.Json;
using System.Text.Json.Nodes;
using Executor.SessionCore.Access;
using Executor.Session.Uploads;
using Executor.SessionCore.Runtimes;
using Executor.SessionCore.Sessions;
using Executor.SessionCore.Storage;
using Executor.SessionCore.Submissions;
using Microsoft.Extensions.Options;
using ModelContextProtocol.Protocol;
using ModelContextProtocol.Server;

namespace Executor.Session.Mcp;

/// <summary>
/// Executor's tools for AI agents over the Model Context Protocol (POST /mcp, Streamable HTTP): run_python and
/// list_runtimes. A call goes through the same submission as POST /execute, with the caller's key: the same quotas,
/// ceilings and ownership. The descriptions are written for a model: what the sandbox allows and what comes back.
/// </summary>
[McpServerToolType]
public sealed class ExecutorMcpTools
{
    /// <summary>Images a model can look at come back as image content; other files as embedded resources.</summary>
    private static readonly HashSet<string> ImageTypes = ["image/png", "image/jpeg", "image/gif", "image/webp"];

    private const long MaxInlineBytes = 4 * 1024 * 1024;

    [McpServerTool(Name = "run_python", Title = "Run Python in a sandbox", Destructive = false, OpenWorld = false, ReadOnly = false)]
    [Description("""
        Runs a Python 3.11 script in a fresh, isolated, single-use sandbox and returns its outcome: status (completed,
        failed, timed_out, memory_exceeded, output_limit_exceeded, internal_error), exit code, stdout, stderr, duration and
        peak memory. The sandbox has NO network access, a read-only system, half a CPU, 128 MiB of memory by default
        (384 MiB in the data runtime), 64 processes, 1 MiB of output and a wall-clock timeout (10 s by default, at most
        60). The script runs in /sandbox with the files you give; files it writes under out/ (e.g.
        plt.savefig("out/plot.png")) come back: PNG, JPEG, GIF and WebP images as images, other files as resources.
        Runtimes: "python-3.11" (default: the standard library and pytest) and "python-3.11-data" (numpy, pandas, scipy,
        matplotlib with the Agg backend, pytest; already imported, so they load instantly). Nothing persists between
        calls: every call starts from an empty sandbox.
        """)]
    public static async Task<CallToolResult> RunPython(
        IHttpContextAccessor http,
        SessionSubmitter submitter,
        IResultFiles results,
        IOptions<SessionServiceOptions> options,
        [Description("The script to run (saved as main.py). Give either this or files.")] string? code = null,
        [Description("The working directory's files, instead of code: each {name, content}; main.py runs, or the only .py file, or entrypoint.")]
        IReadOnlyList<McpFile>? files = null,
        [Description("Which file to run when several are given.")] string? entrypoint = null,
        [Description("Text the script reads on stdin (input(), sys.stdin).")] string? stdin = null,
        [Description("Command-line arguments (sys.argv[1:]).")] IReadOnlyList<string>? args = null,
        [Description("The runtime: python-3.11 (default) or python-3.11-data (numpy, pandas, scipy, matplotlib).")] string? runtime = null,
        [Description("Wall-clock limit in seconds (default 10, at most 60).")] int? timeoutSeconds = null,
        [Description("Network destinations the script may reach through the egress proxy (host, host:port, or '*' for all the key is allowed); default none.")]
        IReadOnlyList<string>? egress = null,
        CancellationToken cancellationToken = default)
    {
        var context = http.HttpContext ?? throw new InvalidOperationException("run_python is served over HTTP only");
        Submission upload;
        try
        {
            var directory = await JsonUploadReader.DirectoryAsync(
                JsonUploadReader.Files(code, files?.Select(f => ((string?)f.Name, f.Content, "utf8")).ToList()), options.Value, cancellationToken);
            upload = SubmissionRules.Complete(directory, entrypoint,
                new RunOptions(args ?? [], stdin, timeoutSeconds, null, Runtime: string.IsNullOrWhiteSpace(runtime) ? null : runtime.Trim(),
                    Egress: EgressGate.Request(egress)), options.Value);
        }
        catch (UploadRejectedException e)
        {
            return Failure(e.Problem.Detail ?? e.Problem.Title ?? "The request was refused.");
        }
        var wait = submitter.RunWait(upload);
        var submission = await submitter.SubmitAsync(context, upload, wait, cancellationToken);
        if (submission.Problem is { } refused)
        {
            return Failure(refused.Detail ?? refused.Title ?? "The request was refused.");
        }
        if (submission.Ended is not { Result: { } run } session)
        {
            return Failure($"The run did not finish within {wait.TotalSeconds:0} s; its result will be at GET /result/{submission.SessionId}.");
        }

        var summary = new JsonObject
        {
            ["status"] = session.Status,
            ["exit_code"] = run.ExitCode,
            ["signal"] = run.Signal,
            ["stdout"] = run.Stdout,
            ["stderr"] = run.Stderr,
            ["duration_ms"] = run.DurationMs,
            ["peak_memory_bytes"] = run.PeakMemoryBytes,
            ["runtime"] = run.Runtime,
            ["detail"] = run.Detail,
            ["session_id"] = session.Id,
            ["files"] = new JsonArray([.. (run.Files ?? []).Select(f => (JsonNode?)new JsonObject
            {
                ["path"] = f.Path, ["size"] = f.Size, ["content_type"] = f.ContentType, ["url"] = SessionResults.FileUrl(session.Id, f.Path),
            })]),
        };
        var content = new List<ContentBlock> { new TextContentBlock { Text = summary.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) } };
        foreach (var file in (run.Files ?? []).Where(f => f.Size <= MaxInlineBytes))
        {
            if (await results.ReadResultFileAsync(session.Id, file.Path, cancellationToken) is not { } bytes)
            {
                continue;
            }
            var uri = $"executor://sessions/{session.Id}/files/{file.Path}";
            content.Add(ImageTypes.Contains(file.ContentType)
                ? ImageContentBlock.FromBytes(bytes, file.ContentType)
                : new EmbeddedResourceBlock
                {
                    Resource = file.ContentType.StartsWith("text/", StringComparison.Ordinal) || file.ContentType is "application/json"
                        ? new TextResourceContents { Uri = uri, MimeType = file.ContentType, Text = System.Text.Encoding.UTF8.GetString(bytes) }
                        : BlobResourceContents.FromBytes(bytes, uri, file.ContentType),
                });
        }
        return new CallToolResult { Content = content, IsError = false };
    }

    [McpServerTool(Name = "list_runtimes", Title = "List the Python runtimes", Destructive = false, OpenWorld = false, ReadOnly = true, Idempotent = true)]
    [Description("Lists the runtimes run_python can use: id, Python version, installed packages with versions, default memory limit, and which is the default.")]
    public static async Task<string> ListRuntimes(RuntimeDirectory runtimes, CancellationToken cancellationToken = default) =>
        JsonSerializer.Serialize(await runtimes.ListAsync(cancellationToken), ListJson);

    private static readonly JsonSerializerOptions ListJson = new() { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower, WriteIndented = true };

    private static CallToolResult Failure(string message) =>
        new() { Content = [new TextContentBlock { Text = message }], IsError = true };
}

/// <summary>A file of the working directory, as run_python takes it.</summary>
/// <param name="Name">Its path, e.g. main.py or data/input.csv.</param>
/// <param name="Content">Its text.</param>
public sealed record McpFile([property: Description("The file's path, e.g. main.py or data/input.csv.")] string Name,
    [property: Description("The file's text.")] string Content);
