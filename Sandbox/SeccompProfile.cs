using System.Text.Json.Nodes;

namespace Executor.Sandbox;

/// <summary>
/// Executor's own seccomp profile (seccomp.json), applied to every sandbox through the Docker API
/// (<c>SecurityOpt = "seccomp=&lt;json&gt;"</c>), so it holds whatever profile the engine ships and needs no file on
/// the engine's host. It is moby's newest default profile (moby/profiles, seccomp/default.json) less what a sandbox
/// never needs and the kernel has a history with: io_uring (absent from the default only since Docker 25; the
/// Docker 20.10 this project installs still allows it), ptrace, process_vm_readv/writev, name_to_handle_at and
/// vmsplice; and less the rules that only grant calls to capabilities, which a sandbox never has. It admits only each
/// machine's native system call ABI (no 32-bit or x32 entry on a 64-bit machine: a call through one is killed as a bad
/// architecture, since socketcall hides socket's arguments from the filter), and mknod/mknodat only for regular files,
/// FIFOs and sockets, never devices. docs/security.md lists it all.
/// </summary>
public static class SeccompProfile
{
    private static readonly string Text = LoadText();
    private static readonly Lazy<string> ForRunc = new(() => Compact(Text));
    private static readonly Lazy<string> ForGvisor = new(() => Compact(GvisorVariant(Text)));

    /// <summary>Calls no rule of the profile allows, whatever the container's capabilities.</summary>
    public static IReadOnlyList<string> Denied { get; } =
    [
        "io_uring_setup", "io_uring_enter", "io_uring_register", "userfaultfd", "perf_event_open", "bpf", "keyctl",
        "add_key", "request_key", "ptrace", "process_vm_readv", "process_vm_writev", "name_to_handle_at", "vmsplice",
        "unshare", "setns", "mount", "kexec_load", "init_module", "socketcall",
    ];

    /// <summary>The profile as the engine takes it in <c>SecurityOpt</c> (one line of JSON) for the OCI runtime that runs it.</summary>
    public static string For(string? runtime) => IsGvisor(runtime) ? ForGvisor.Value : ForRunc.Value;

    /// <summary>Every syscall name some rule allows (for tests and documentation).</summary>
    public static IReadOnlySet<string> Allowed()
    {
        var profile = JsonNode.Parse(Text)!;
        return profile["syscalls"]!.AsArray()
            .Where(rule => (string?)rule!["action"] == "SCMP_ACT_ALLOW")
            .SelectMany(rule => rule!["names"]!.AsArray().Select(n => (string)n!))
            .ToHashSet(StringComparer.Ordinal);
    }

    public static bool IsGvisor(string? runtime) => runtime?.StartsWith("runsc", StringComparison.Ordinal) == true;

    /// <summary>
    /// gVisor applies the profile in its own kernel (runsc --oci-seccomp) but ignores errnoRet and answers EPERM: the
    /// default rule "clone3 → ENOSYS" would then break every thread (glibc falls back to clone only on ENOSYS). Under
    /// gVisor clone3 reaches gVisor's kernel, never the host's, and that kernel answers ENOSYS itself (measured).
    /// </summary>
    private static string GvisorVariant(string text)
    {
        var profile = JsonNode.Parse(text)!;
        foreach (var rule in profile["syscalls"]!.AsArray())
        {
            if (rule!["names"]!.AsArray() is [var only] && (string?)only == "clone3")
            {
                rule["action"] = "SCMP_ACT_ALLOW";
                rule.AsObject().Remove("errnoRet");
            }
        }
        return profile.ToJsonString();
    }

    private static string Compact(string json) => JsonNode.Parse(json)!.ToJsonString();

    private static string LoadText()
    {
        using var stream = typeof(SeccompProfile).Assembly.GetManifestResourceStream("Executor.Sandbox.seccomp.json")
            ?? throw new InvalidOperationException("seccomp.json is not embedded in this assembly");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }
}
