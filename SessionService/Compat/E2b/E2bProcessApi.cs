using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Executor.Contracts;
using Executor.Session.Live;
using Executor.SessionCore.Dispatch;
using Executor.SessionCore.Sandboxes;
using Executor.SessionCore.Storage;

namespace Executor.Session.Compat.E2b;

/// <summary>
/// E2B's commands (envd's <c>process.Process</c>, Connect with JSON): <c>Start</c> runs the command as a call in the
/// surface's own context, a subprocess of the kernel whose stdout and stderr are the kernel's, so they arrive live
/// through <see cref="SessionFeed"/>; the call's value is the exit code. The answer is Connect's server stream: a start
/// event, data events (base64), an end event, then the end-of-stream envelope. Commands run in the foreground as the
/// sandbox user; what needs a process that outlives the call (background commands' stdin, signals, PTYs) answers
/// Connect's unimplemented.
/// </summary>
public static class E2bProcessApi
{
    private const string Tag = "E2B data plane";
    private const string StreamContentType = "application/connect+json";

    public static IEndpointRouteBuilder MapE2bProcessApi(this IEndpointRouteBuilder app)
    {
        app.MapPost(E2bDataPlaneRouting.Prefix.Value + "/process.Process/{method}", ProcessAsync).WithTags(Tag).AllowAnonymous().ExcludeFromDescription()
            .WithName("E2bProcess").WithSummary("E2B: runs a command (process.Process/Start, a Connect server stream)");
        return app;
    }

    /// <summary>
    /// The command: run with its arguments, environment and directory (PWD keeps E2B's /home/user as the shell's name for
    /// it, the link to /sandbox), its process group killed when the call is interrupted.
    /// </summary>
    private const string StartCode = """
        import os as _o, signal as _sg, subprocess as _sp, sys as _sy
        _sy.stdout.flush()
        _sy.stderr.flush()
        _p = _sp.Popen([a["cmd"], *a["args"]], cwd=a["cwd"], env={**_o.environ, "HOME": "/home/user", "PWD": a["cwd"], **a["envs"]}, stdin=_sp.DEVNULL, start_new_session=True)
        try:
            _c = _p.wait()
        except BaseException:
            _o.killpg(_p.pid, _sg.SIGKILL)
            _p.wait()
            raise
        _c
        """;

    public static async Task<IResult> ProcessAsync(
        string method, HttpContext context, SandboxOperations sandboxes, ISessionStore store, IOutputLog log, SessionSignals signals, TimeProvider time,
        CancellationToken cancellationToken)
    {
        var (sandbox, owner, status, message) = await E2bSandbox.FindAsync(context, sandboxes, cancellationToken);
        if (sandbox is null)
        {
            return E2bSandbox.Error(status, message!);
        }
        if (method != "Start")
        {
            return E2bFilesApi.Connect("unimplemented",
                $"Executor does not support process.Process/{method}: commands run in the foreground, without stdin, signals or a PTY.");
        }
        using var buffer = new MemoryStream();
        await context.Request.Body.CopyToAsync(buffer, cancellationToken);
        if (E2bFormat.FirstMessage(buffer.GetBuffer().AsSpan(0, (int)buffer.Length)) is not { } request || request["process"] is not JsonObject process
            || process["cmd"]?.GetValueKind() != JsonValueKind.String)
        {
            return E2bFilesApi.Connect("invalid_argument", "A Start request (one Connect envelope with process.cmd) is required.");
        }
        if (E2bSandbox.UserRefusal(context.Request) is { } user)
        {
            return E2bFilesApi.Connect("permission_denied", user);
        }
        if (request["pty"] is JsonObject)
        {
            return E2bFilesApi.Connect("unimplemented", "Executor does not support PTYs.");
        }
        if (request["stdin"]?.GetValueKind() == JsonValueKind.True)
        {
            return E2bFilesApi.Connect("unimplemented", "Executor's commands take no stdin.");
        }
        var cwd = E2bSandbox.Text(process["cwd"]) ?? E2bFormat.Home;
        var arguments = new JsonObject
        {
            ["cmd"] = process["cmd"]!.GetValue<string>(),
            ["args"] = new JsonArray([.. (process["args"] as JsonArray ?? []).Select(a => (JsonNode?)JsonValue.Create(a?.ToString() ?? ""))]),
            ["envs"] = process["envs"] is JsonObject envs
                ? new JsonObject(envs.Select(e => KeyValuePair.Create(e.Key, (JsonNode?)JsonValue.Create(e.Value?.ToString() ?? ""))))
                : new JsonObject(),
            ["cwd"] = cwd.StartsWith('/') ? cwd : $"{E2bFormat.Home}/{cwd}",
        };
        var timeout = E2bSandbox.CallTimeout(owner!,
            double.TryParse(context.Request.Headers["Connect-Timeout-Ms"], NumberStyles.Integer, CultureInfo.InvariantCulture, out var ms) ? ms / 1000 : null);
        var (callId, problem) = await sandboxes.CallAsync(sandbox,
            new CallRequest(E2bSandbox.Code(arguments, StartCode), timeout, null, false) { Context = E2bSandbox.HiddenContext, Env = E2bSandbox.Env(sandbox, null) },
            owner!, cancellationToken);
        if (problem is not null)
        {
            return E2bFilesApi.Connect(problem.Status switch { 429 => "resource_exhausted", 410 => "unavailable", _ => "internal" },
                problem.Detail ?? problem.Title ?? "The command could not be started.");
        }

        context.Response.ContentType = StreamContentType;
        context.Response.Headers["X-Accel-Buffering"] = "no";
        await WriteAsync(context, Event("start", new JsonObject { ["pid"] = Pid(callId!) }), cancellationToken);
        await foreach (var e in SessionFeed.StreamAsync(callId!, 0, store, log, signals, time, cancellationToken))
        {
            switch (e.Type)
            {
                case SessionFeed.StdoutEvent or SessionFeed.StderrEvent:
                    var bytes = Encoding.UTF8.GetBytes(e.Data["text"]?.GetValue<string>() ?? "");
                    await WriteAsync(context, Event("data", new JsonObject { [e.Type] = Convert.ToBase64String(bytes) }), cancellationToken);
                    break;
                case SessionFeed.PingEvent:
                    await WriteAsync(context, Event("keepalive", []), cancellationToken);
                    break;
                case SessionFeed.ResultEvent:
                    var (end, error) = End(await store.FindAsync(callId!, cancellationToken));
                    if (end is not null)
                    {
                        await WriteAsync(context, Event("end", end), cancellationToken);
                    }
                    await WriteAsync(context, E2bFormat.Envelope(error is null ? new JsonObject() : new JsonObject { ["error"] = error }, E2bFormat.EndStreamFlag),
                        cancellationToken);
                    return Results.Empty;
            }
        }
        return Results.Empty;
    }

    /// <summary>The end event of a command's call (its exit code), or the Connect error it ended with instead.</summary>
    public static (JsonObject? End, JsonObject? Error) End(SessionRecord? call)
    {
        if (call is not null && E2bSandbox.RaisedError(call) is var (name, value))
        {
            var code = name switch
            {
                "FileNotFoundError" or "NotADirectoryError" => "not_found",
                "PermissionError" => "permission_denied",
                "KeyboardInterrupt" => "deadline_exceeded",
                _ => "internal",
            };
            return (null, new JsonObject { ["code"] = code, ["message"] = $"{name}: {value}" });
        }
        if (call is not null && int.TryParse(E2bSandbox.Value(call), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var exit))
        {
            // As envd (Go's ProcessState): a signal's end is exit code -1 and "signal: ...".
            return (new JsonObject
            {
                ["exitCode"] = exit < 0 ? -1 : exit,
                ["exited"] = exit >= 0,
                ["status"] = exit < 0 ? $"signal: {-exit}" : $"exit status {exit}",
            }, null);
        }
        var status = call?.Result?.Sandbox?.Status ?? call?.Result?.Status ?? "no answer";
        return (null, new JsonObject
        {
            ["code"] = status == SandboxStatus.TimedOut ? "deadline_exceeded" : "unavailable",
            ["message"] = call?.Result?.Detail ?? $"The command ended {status}.",
        });
    }

    private static byte[] Event(string kind, JsonObject value) => E2bFormat.Envelope(new JsonObject { ["event"] = new JsonObject { [kind] = value } });

    /// <summary>A process id for the SDK's handle: Executor's commands are calls, which have no pid of their own.</summary>
    private static int Pid(string callId) => 1000 + (int)((uint)StringComparer.Ordinal.GetHashCode(callId) % 30000);

    private static async Task WriteAsync(HttpContext context, byte[] envelope, CancellationToken cancellationToken)
    {
        await context.Response.Body.WriteAsync(envelope, cancellationToken);
        await context.Response.Body.FlushAsync(cancellationToken);
    }
}
