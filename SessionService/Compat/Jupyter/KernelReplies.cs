using System.Text.Json;
using System.Text.Json.Nodes;
using Executor.Contracts;
using Executor.Session.Apis;

namespace Executor.Session.Compat.Jupyter;

/// <summary>
/// What the kernel says, in the protocol's terms: replies with the request's header as their parent, the status
/// messages around each request, and a sandbox call's end (<see cref="CallView"/>) as iopub outputs and an
/// execute_reply. Every message carries the kernel's one session id: a client drops messages of another session.
/// </summary>
public static class KernelReplies
{
    public const string ProtocolVersion = "5.3";

    public static KernelMessage Reply(KernelMessage request, string session, string channel, string type, JsonObject content, DateTimeOffset now) =>
        new(channel, Header(session, type, now), (JsonObject)request.Header.DeepClone(), [], content);

    public static KernelMessage Status(KernelMessage request, string session, string state, DateTimeOffset now) =>
        Reply(request, session, "iopub", "status", new JsonObject { ["execution_state"] = state }, now);

    public static JsonObject Header(string session, string type, DateTimeOffset now) => new()
    {
        ["msg_id"] = Guid.NewGuid().ToString("N"),
        ["username"] = "executor",
        ["session"] = session,
        ["date"] = JupyterKernels.Timestamp(now),
        ["msg_type"] = type,
        ["version"] = ProtocolVersion,
    };

    public static JsonObject KernelInfo(string? pythonVersion, string banner) => new()
    {
        ["status"] = "ok",
        ["protocol_version"] = ProtocolVersion,
        ["implementation"] = "executor",
        ["implementation_version"] = "1.0",
        ["language_info"] = new JsonObject
        {
            ["name"] = "python",
            ["version"] = pythonVersion ?? "3",
            ["mimetype"] = "text/x-python",
            ["file_extension"] = ".py",
            ["pygments_lexer"] = "ipython3",
            ["codemirror_mode"] = new JsonObject { ["name"] = "ipython", ["version"] = 3 },
            ["nbconvert_exporter"] = "python",
        },
        ["banner"] = banner,
        ["help_links"] = new JsonArray(),
        ["debugger"] = false,
    };

    /// <summary>
    /// The reply to a request the kernel answers without running anything: completion, inspection and history are
    /// empty (they would take a call, which counts as an execution); whether code is complete is "unknown" (a client
    /// then runs it). Null for a message type this kernel does not answer.
    /// </summary>
    public static (string Type, JsonObject Content)? Canned(KernelMessage request) => request.Type switch
    {
        "comm_info_request" => ("comm_info_reply", new JsonObject { ["status"] = "ok", ["comms"] = new JsonObject() }),
        "complete_request" => ("complete_reply", new JsonObject
        {
            ["status"] = "ok",
            ["matches"] = new JsonArray(),
            ["cursor_start"] = Cursor(request),
            ["cursor_end"] = Cursor(request),
            ["metadata"] = new JsonObject(),
        }),
        "inspect_request" => ("inspect_reply", new JsonObject
        {
            ["status"] = "ok", ["found"] = false, ["data"] = new JsonObject(), ["metadata"] = new JsonObject(),
        }),
        "is_complete_request" => ("is_complete_reply", new JsonObject { ["status"] = "unknown" }),
        "history_request" => ("history_reply", new JsonObject { ["status"] = "ok", ["history"] = new JsonArray() }),
        _ => null,
    };

    private static int Cursor(KernelMessage request) =>
        request.Content["cursor_pos"] is JsonValue value && value.TryGetValue<int>(out var at) ? at
            : (request.Content["code"] is JsonValue code && code.TryGetValue<string>(out var text) ? text.Length : 0);

    /// <summary>
    /// A call's outputs as iopub messages: its results and displays, and its error. Its streams are not among them:
    /// they were sent live as the call printed. A call that ended without an error of its own (timed out, killed at its
    /// memory limit, cut at its output limit, its kernel died) gets one that says so.
    /// </summary>
    public static IReadOnlyList<(string Type, JsonObject Content)> Outputs(CallView call, int executionCount)
    {
        var messages = new List<(string, JsonObject)>();
        foreach (var output in call.Outputs)
        {
            var node = JsonSerializer.SerializeToNode(output) as JsonObject ?? [];
            var data = node["data"]?.DeepClone() ?? new JsonObject();
            var metadata = node["metadata"]?.DeepClone() ?? new JsonObject();
            switch (KernelMessage.Text(node, "output_type"))
            {
                case "execute_result":
                    messages.Add(("execute_result", new JsonObject { ["execution_count"] = executionCount, ["data"] = data, ["metadata"] = metadata }));
                    break;
                case "display_data":
                    messages.Add(("display_data", new JsonObject { ["data"] = data, ["metadata"] = metadata, ["transient"] = new JsonObject() }));
                    break;
                case "error":
                    messages.Add(("error", Error(KernelMessage.Text(node, "ename"), KernelMessage.Text(node, "evalue"),
                        node["traceback"] is JsonArray lines ? [.. lines.Select(l => l?.GetValue<string>() ?? "")] : [])));
                    break;
            }
        }
        if (call.Error is null && Failure(call) is { } failure)
        {
            messages.Add(("error", failure));
        }
        return messages;
    }

    /// <summary>The execute_reply: ok, or error with the call's error (its own, or what its end means).</summary>
    public static JsonObject ExecuteReply(CallView call, int executionCount)
    {
        var error = call.Error is { } own ? Error(own.Name, own.Value, own.Traceback) : Failure(call);
        var reply = error ?? new JsonObject { ["status"] = "ok" };
        reply["execution_count"] = executionCount;
        reply["user_expressions"] = new JsonObject();
        reply["payload"] = new JsonArray();
        return reply;
    }

    public static JsonObject Error(string name, string value, IReadOnlyList<string> traceback) => new()
    {
        ["status"] = "error",
        ["ename"] = name,
        ["evalue"] = value,
        ["traceback"] = new JsonArray([.. traceback.Select(l => (JsonNode)l)]),
    };

    /// <summary>The error a call that did not end ok means when the code raised none.</summary>
    private static JsonObject? Failure(CallView call)
    {
        var (name, value) = call.Status switch
        {
            SandboxStatus.Ok => (null, null),
            SandboxStatus.Error => ("Error", "The code failed."),
            SandboxStatus.Interrupted => ("KeyboardInterrupt", "The call was interrupted."),
            SandboxStatus.TimedOut => ("TimeoutError", "The call passed its timeout and was interrupted."),
            SandboxStatus.MemoryExceeded => ("MemoryError", "The kernel was killed at the sandbox's memory limit; a fresh one replaced it (the namespace is empty)."),
            SandboxStatus.OutputLimitExceeded => ("OutputLimitExceeded", "The call printed more than the output limit; it was cut and interrupted."),
            _ => ("DeadKernelError", "The kernel died; a fresh one replaced it (the namespace is empty)."),
        };
        return name is null ? null : Error(name, call.Detail is { Length: > 0 } detail ? detail : value!, [$"{name}: {call.Detail ?? value}"]);
    }
}
