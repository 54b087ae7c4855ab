using System.Text.Json;
using Executor.Contracts;

namespace Executor.SessionCore.Sessions;

/// <summary>How a session's script is run, beyond its files: what the client asked for, whichever surface it used.</summary>
/// <param name="Interactive">stdin_mode=interactive: stdin stays open for an attached client (GET /result/{id}/attach).</param>
/// <param name="CallbackUrl">Where the result is sent when the session ends (checked against the callback guard).</param>
/// <param name="Runtime">The runtime it runs in (resolved at submission: never null once stored, unless no host reports runtimes).</param>
/// <param name="Surface">
/// The surface that submitted it when that surface reads the session back in its own shape (and sends its own callback,
/// <see cref="Callbacks.ICallbackFormat"/>); null for the native API.
/// </param>
/// <param name="SurfaceData">What that surface keeps with the session beyond these options: stored and read back untouched.</param>
/// <param name="Egress">
/// The network it asked for: as the surface read it until <see cref="Access.EgressGate.Grant"/> checks it; granted
/// (normalized, with the deployment's limits) once stored. Null: no network at all.
/// </param>
/// <param name="Grading">Test cases to judge the program against (prepared once, run once per case); null: one run.</param>
/// <param name="Build">A compiled language's compile options (Judge0's compiler_options).</param>
/// <param name="Sandbox">Set when the session is a command to a stateful sandbox rather than a run (see <see cref="SandboxCommand"/>).</param>
public sealed record RunOptions(
    IReadOnlyList<string> Args,
    string? Stdin,
    int? TimeoutSeconds,
    int? MemoryMb,
    bool Interactive = false,
    string? CallbackUrl = null,
    string? Runtime = null,
    string? Surface = null,
    JsonElement? SurfaceData = null,
    SandboxCommand? Sandbox = null,
    EgressPolicy? Egress = null,
    GradingSpec? Grading = null,
    BuildOptions? Build = null)
{
    public static RunOptions None { get; } = new([], null, null, null);
}
