using System.ComponentModel;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Executor.SessionCore.Access;
using Executor.Contracts;
using Executor.Session.Apis;
using Executor.SessionCore.Sandboxes;
using Executor.SessionCore.Sessions;
using Executor.SessionCore.Storage;
using ModelContextProtocol.Protocol;
using ModelContextProtocol.Server;

namespace Executor.Session.Mcp;

/// <summary>
/// Tools that keep state across an agent's calls: a stateful sandbox (a live Python kernel) to create, run code in,
/// move files in and out of, and close. Each goes through <see cref="SandboxOperations"/> with the caller's key, as the
/// REST API does; a sandbox the agent forgets ends by itself after its idle timeout.
/// </summary>
[McpServerToolType]
public sealed class SandboxMcpTools
{
    private static readonly JsonSerializerOptions Indented = new(SessionResults.Json) { WriteIndented = true };

    [McpServerTool(Name = "sandbox_create", Title = "Create a stateful Python sandbox", Destructive = false, OpenWorld = false, ReadOnly = false)]
    [Description("""
        Creates a stateful sandbox: a live Python 3.11 kernel, isolated, with NO network access, whose variables, imports
        and files in /sandbox persist between sandbox_run calls (like a Jupyter notebook). Returns its sandbox_id. It ends
        by itself after idle_timeout_seconds without a call (default 300) or after lifetime_seconds (default 3600); close it
        with sandbox_close when done. Runtimes: "python-3.11" (default) and "python-3.11-data" (numpy, pandas, scipy,
        matplotlib, already imported).
        """)]
    public static async Task<CallToolResult> Create(
        IHttpContextAccessor http,
        SandboxOperations sandboxes,
        SessionCommands sessions,
        [Description("The runtime: python-3.11 (default) or python-3.11-data.")] string? runtime = null,
        [Description("Seconds without a call after which the sandbox ends (default 300).")] int? idleTimeoutSeconds = null,
        [Description("Network destinations the sandbox may reach through the egress proxy (host, host:port, or '*' for all the key is allowed); default none.")]
        IReadOnlyList<string>? egress = null,
        CancellationToken cancellationToken = default)
    {
        var caller = sessions.CallerOf(Context(http));
        var (sandbox, problem) = await sandboxes.CreateAsync(caller,
            new SandboxRequest(string.IsNullOrWhiteSpace(runtime) ? null : runtime.Trim(), idleTimeoutSeconds, null, null)
            {
                Egress = EgressGate.Request(egress),
            }, cancellationToken);
        return sandbox is null ? Failure(problem!.Detail ?? problem.Title ?? "The sandbox could not be created.") : Json(SandboxView.From(sandbox));
    }

    [McpServerTool(Name = "sandbox_run", Title = "Run Python in a stateful sandbox", Destructive = false, OpenWorld = false, ReadOnly = false)]
    [Description("""
        Runs Python code in a sandbox made by sandbox_create, in its persistent namespace: earlier variables and imports are
        there. As in Jupyter, the value of the last expression is returned as a result; matplotlib figures come back as
        images, pandas DataFrames as HTML tables (and text). Returns status (ok, error, timed_out, interrupted,
        memory_exceeded, output_limit_exceeded), stdout, stderr, the error with its traceback, and the execution count. An
        error leaves the namespace intact.
        """)]
    public static async Task<CallToolResult> Run(
        IHttpContextAccessor http,
        SandboxOperations sandboxes,
        SessionCommands sessions,
        [Description("The sandbox_id sandbox_create returned.")] string sandboxId,
        [Description("The Python code to run.")] string code,
        [Description("Seconds before the call is interrupted (default 30).")] int? timeoutSeconds = null,
        CancellationToken cancellationToken = default)
    {
        var caller = sessions.CallerOf(Context(http));
        if (await sandboxes.FindOwnedAsync(sandboxId, caller, cancellationToken) is not { } sandbox)
        {
            return Failure(SandboxOperations.SandboxNotFound(sandboxId).Detail!);
        }
        var (callId, problem) = await sandboxes.CallAsync(sandbox, new CallRequest(code, timeoutSeconds, null, false), caller, cancellationToken);
        if (problem is not null)
        {
            return Failure(problem.Detail ?? problem.Title ?? "The call was refused.");
        }
        var call = await sandboxes.WaitAsync(callId!, sandboxes.CallWait(null, timeoutSeconds), cancellationToken);
        if (call is not { Result: not null } || !SessionStatus.IsTerminal(call.Status))
        {
            return Failure($"The call did not end in time; its result will be at GET /sandboxes/{sandboxId}/calls/{callId}.");
        }
        if (call.Result.Sandbox?.Status == SandboxStatus.SandboxGone)
        {
            return Failure(call.Result.Detail ?? "The sandbox has ended; create another one.");
        }
        var view = CallView.From(call);
        var summary = new JsonObject
        {
            ["status"] = view.Status,
            ["execution_count"] = view.ExecutionCount,
            ["stdout"] = view.Stdout,
            ["stderr"] = view.Stderr,
            ["error"] = view.Error is null ? null : JsonSerializer.SerializeToNode(view.Error, SessionResults.Json),
            ["duration_ms"] = view.DurationMs,
            ["kernel_restarted"] = view.KernelRestarted,
            ["detail"] = view.Detail,
        };
        var content = new List<ContentBlock> { new TextContentBlock { Text = summary.ToJsonString(Indented) } };
        foreach (var result in view.Results)
        {
            if (result.TryGetProperty("image/png", out var png) && png.GetString() is { } base64)
            {
                content.Add(ImageContentBlock.FromBytes(Convert.FromBase64String(base64), "image/png"));
            }
            else if (result.TryGetProperty("text/plain", out var text) && text.GetString() is { } plain)
            {
                content.Add(new TextContentBlock { Text = plain });
            }
        }
        return new CallToolResult { Content = content, IsError = view.Status != SandboxStatus.Ok };
    }

    [McpServerTool(Name = "sandbox_upload", Title = "Write a file into a sandbox", Destructive = false, OpenWorld = false, ReadOnly = false)]
    [Description("Writes a file into the sandbox's working directory /sandbox (directories are made), from text or from base64.")]
    public static Task<CallToolResult> Upload(
        IHttpContextAccessor http,
        SandboxOperations sandboxes,
        SessionCommands sessions,
        [Description("The sandbox_id.")] string sandboxId,
        [Description("The path relative to /sandbox, e.g. data/input.csv.")] string path,
        [Description("The file's text (give this or base64).")] string? text = null,
        [Description("The file's bytes, base64 (give this or text).")] string? base64 = null,
        CancellationToken cancellationToken = default)
    {
        byte[] content;
        try
        {
            content = base64 is not null ? Convert.FromBase64String(base64) : Encoding.UTF8.GetBytes(text ?? "");
        }
        catch (FormatException)
        {
            return Task.FromResult(Failure("base64 is not valid base64."));
        }
        return FileAsync(http, sandboxes, sessions, sandboxId, SandboxCommandKinds.PutFile, path, content, cancellationToken);
    }

    [McpServerTool(Name = "sandbox_download", Title = "Read a file of a sandbox", Destructive = false, OpenWorld = false, ReadOnly = true)]
    [Description("Reads a file of the sandbox's /sandbox: text comes back as text, images as images, other bytes as base64.")]
    public static Task<CallToolResult> Download(
        IHttpContextAccessor http,
        SandboxOperations sandboxes,
        SessionCommands sessions,
        IResultFiles files,
        [Description("The sandbox_id.")] string sandboxId,
        [Description("The path relative to /sandbox.")] string path,
        CancellationToken cancellationToken = default) =>
        FileAsync(http, sandboxes, sessions, sandboxId, SandboxCommandKinds.GetFile, path, null, cancellationToken, files);

    [McpServerTool(Name = "sandbox_list_files", Title = "List a sandbox's files", Destructive = false, OpenWorld = false, ReadOnly = true)]
    [Description("Lists the files and directories under the sandbox's /sandbox, with their sizes.")]
    public static Task<CallToolResult> ListFiles(
        IHttpContextAccessor http,
        SandboxOperations sandboxes,
        SessionCommands sessions,
        [Description("The sandbox_id.")] string sandboxId,
        CancellationToken cancellationToken = default) =>
        FileAsync(http, sandboxes, sessions, sandboxId, SandboxCommandKinds.ListFiles, "", null, cancellationToken);

    [McpServerTool(Name = "sandbox_close", Title = "Close a sandbox", Destructive = true, OpenWorld = false, ReadOnly = false, Idempotent = true)]
    [Description("Ends the sandbox and removes it with everything in it.")]
    public static async Task<CallToolResult> Close(
        IHttpContextAccessor http,
        SandboxOperations sandboxes,
        SessionCommands sessions,
        [Description("The sandbox_id.")] string sandboxId,
        CancellationToken cancellationToken = default)
    {
        var caller = sessions.CallerOf(Context(http));
        if (await sandboxes.FindOwnedAsync(sandboxId, caller, cancellationToken) is not { } sandbox)
        {
            return Failure(SandboxOperations.SandboxNotFound(sandboxId).Detail!);
        }
        return Json(SandboxView.From(await sandboxes.DeleteAsync(sandbox, caller, cancellationToken) ?? sandbox));
    }

    private static async Task<CallToolResult> FileAsync(
        IHttpContextAccessor http, SandboxOperations sandboxes, SessionCommands sessions, string sandboxId, string kind, string path, byte[]? content,
        CancellationToken cancellationToken, IResultFiles? files = null)
    {
        var caller = sessions.CallerOf(Context(http));
        if (await sandboxes.FindOwnedAsync(sandboxId, caller, cancellationToken) is not { } sandbox)
        {
            return Failure(SandboxOperations.SandboxNotFound(sandboxId).Detail!);
        }
        var (command, problem) = await sandboxes.FileAsync(sandbox, kind, path, content, caller, cancellationToken);
        if (problem is not null || command?.Result?.Sandbox is not { } outcome)
        {
            return Failure(problem?.Detail ?? "The sandbox did not answer.");
        }
        if (outcome.Status != SandboxStatus.Ok)
        {
            return Failure($"{kind} of '{path}' failed: {outcome.Status.Replace('_', ' ')}{(command.Result.Detail is { } detail ? $" ({detail})" : "")}.");
        }
        if (kind == SandboxCommandKinds.ListFiles)
        {
            return Json(new FileList([.. outcome.Entries ?? []]));
        }
        if (kind != SandboxCommandKinds.GetFile)
        {
            return Json(new FileView(path, outcome.Size ?? content?.Length ?? 0));
        }
        var file = command.Result.Files is { Count: > 0 } got ? got[0] : null;
        var bytes = file is null ? null : await files!.ReadResultFileAsync(command.Id, file.Path, cancellationToken);
        if (bytes is null)
        {
            return Failure($"The sandbox has no file '{path}'.");
        }
        var type = file!.ContentType;
        ContentBlock block = type.StartsWith("image/", StringComparison.Ordinal)
            ? ImageContentBlock.FromBytes(bytes, type)
            : IsText(bytes) ? new TextContentBlock { Text = Encoding.UTF8.GetString(bytes) } : new TextContentBlock { Text = Convert.ToBase64String(bytes) };
        return new CallToolResult { Content = [block], IsError = false };
    }

    private static bool IsText(byte[] bytes)
    {
        try
        {
            _ = new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(bytes);
            return !bytes.Contains((byte)0);
        }
        catch (DecoderFallbackException)
        {
            return false;
        }
    }

    private static HttpContext Context(IHttpContextAccessor http) =>
        http.HttpContext ?? throw new InvalidOperationException("The sandbox tools are served over HTTP only");

    private static CallToolResult Json(object value) =>
        new() { Content = [new TextContentBlock { Text = JsonSerializer.Serialize(value, Indented) }], IsError = false };

    private static CallToolResult Failure(string message) => new() { Content = [new TextContentBlock { Text = message }], IsError = true };
}
