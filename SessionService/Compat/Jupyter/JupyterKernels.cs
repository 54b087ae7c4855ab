using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Executor.SessionCore;
using Executor.SessionCore.Sandboxes;
using Microsoft.AspNetCore.Mvc;

namespace Executor.Session.Compat.Jupyter;

/// <summary>
/// A Jupyter kernel is an Executor sandbox. Its id is the sandbox's, written as a UUID (Jupyter Server routes only
/// UUID-shaped kernel ids: "sbx_&lt;32 hex&gt;" is kernel "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx"); what Jupyter keeps
/// about it (its kernel name, its execution count, its notebook session) is the "jupyter" member of the sandbox's
/// attributes, so that every replica reads the same.
/// </summary>
public static class JupyterKernels
{
    private const string SandboxPrefix = "sbx_";
    private const string AttributesMember = "jupyter";

    /// <summary>The kernel spec that names the default runtime, and the default kernel.</summary>
    public const string DefaultKernelName = "python3";

    public static string KernelId(string sandboxId) =>
        sandboxId.StartsWith(SandboxPrefix, StringComparison.Ordinal) && Guid.TryParseExact(sandboxId[SandboxPrefix.Length..], "N", out var id)
            ? id.ToString("D")
            : sandboxId;

    public static string SandboxId(string kernelId) =>
        kernelId.Length == 36 && Guid.TryParseExact(kernelId, "D", out var id) ? SandboxPrefix + id.ToString("N") : kernelId;

    /// <summary>What Jupyter keeps about the sandbox (a copy; empty when nothing is kept).</summary>
    public static JsonObject State(SandboxRecord sandbox)
    {
        try
        {
            return sandbox.Attributes is { } attributes && JsonNode.Parse(attributes) is JsonObject all && all[AttributesMember] is JsonObject state
                ? (JsonObject)state.DeepClone()
                : [];
        }
        catch (JsonException)
        {
            return [];
        }
    }

    /// <summary>The sandbox's attributes with Jupyter's member replaced, every other surface's member kept.</summary>
    public static string WithState(string? attributes, JsonObject state)
    {
        JsonObject all;
        try
        {
            all = attributes is not null && JsonNode.Parse(attributes) is JsonObject parsed ? parsed : [];
        }
        catch (JsonException)
        {
            all = [];
        }
        all[AttributesMember] = state.DeepClone();
        return all.ToJsonString();
    }

    /// <summary>Changes what Jupyter keeps about the sandbox, reading it fresh first (false once it has ended).</summary>
    public static async Task<bool> UpdateStateAsync(
        SandboxOperations sandboxes, SandboxRecord sandbox, ISandboxStore store, Action<JsonObject> change, CancellationToken cancellationToken)
    {
        var current = await store.FindSandboxAsync(sandbox.Id, cancellationToken) ?? sandbox;
        var state = State(current);
        change(state);
        return await sandboxes.SetAttributesAsync(current, WithState(current.Attributes, state), cancellationToken);
    }

    public static string KernelName(SandboxRecord sandbox) =>
        State(sandbox)["kernel_name"] is JsonValue name && name.TryGetValue<string>(out var text) ? text : sandbox.Runtime ?? DefaultKernelName;

    /// <summary>The count the kernel's last call ended with, as far as this surface saw it.</summary>
    public static int ExecutionCount(SandboxRecord sandbox) =>
        State(sandbox)["execution_count"] is JsonValue count && count.TryGetValue<int>(out var n) ? n : 0;

    /// <summary>Jupyter Server's kernel model; <c>last_activity</c> exactly as its gateway client parses it.</summary>
    public static JsonObject Model(SandboxRecord sandbox, bool busy) => new()
    {
        ["id"] = KernelId(sandbox.Id),
        ["name"] = KernelName(sandbox),
        ["last_activity"] = Timestamp(sandbox.LastActivityAt),
        ["execution_state"] = sandbox.State switch
        {
            SandboxStates.Running => busy ? "busy" : "idle",
            SandboxStates.Starting => "starting",
            _ => "dead",
        },
        // Which WebSockets are open is known only to the replica that holds each; none is counted here.
        ["connections"] = 0,
    };

    public static string Timestamp(DateTimeOffset time) =>
        time.UtcDateTime.ToString("yyyy'-'MM'-'dd'T'HH':'mm':'ss'.'ffffff'Z'", CultureInfo.InvariantCulture);

    /// <summary>A problem with Jupyter's own "message" member beside its detail: Jupyter's clients show that one.</summary>
    public static ProblemDetails Problem(ProblemDetails problem)
    {
        problem.Extensions["message"] = problem.Detail;
        return problem;
    }

    public static ProblemDetails KernelNotFound(string kernelId) => Problem(Problems.Create(StatusCodes.Status404NotFound, "kernel-not-found",
        "No such kernel", $"Kernel does not exist: {kernelId} (it never existed, it is another key's, or it has ended)."));
}
