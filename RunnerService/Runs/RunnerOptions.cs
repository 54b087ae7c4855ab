using System.ComponentModel.DataAnnotations;

namespace Executor.Runner.Runs;

public sealed class RunnerOptions
{
    public const string Section = "Runner";

    /// <summary>Where SessionService is found (service discovery name or URL): the runner host claims its work there.</summary>
    [Required]
    public string SessionUrl { get; set; } = "http://session";

    /// <summary>
    /// This host's own credential for the run protocol: HMAC-SHA256 of its name (Sandbox:Host) under SessionService's
    /// Sessions:HostSecret (Executor.Contracts.HostCredentials). Without it SessionService refuses every call.
    /// </summary>
    [Required]
    public string HostToken { get; set; } = "";

    /// <summary>Where PrewarmService is found (service discovery name or URL).</summary>
    [Required]
    public string PrewarmUrl { get; set; } = "http://prewarm";

    /// <summary>
    /// Runs at once on this host. Default: two per core (each sandbox gets half a core), and no more than half the
    /// memory can hold at 256 MiB a run (128 MiB sandbox plus the engine's share).
    /// </summary>
    [Range(1, 1024)]
    public int MaxConcurrentRuns { get; set; } = DefaultConcurrency();

    /// <summary>Lease warm containers from PrewarmService; when false every run starts a cold container.</summary>
    public bool UseWarmPool { get; set; } = true;

    /// <summary>
    /// Leased containers this runner keeps attached ahead of demand, so that a run skips both the lease and the
    /// attach (about 3 ms). They count on top of the pool's own.
    /// </summary>
    [Range(0, 64)]
    public int AttachedSlots { get; set; } = 2;

    /// <summary>
    /// When no warm container is ready: 0 waits only for one the pool is already booting and no earlier run waits for
    /// (it is ready sooner than a cold one would be), else starts a cold one at once; more waits that long for a warm one first.
    /// </summary>
    [Range(0, 60_000)]
    public int EmptyPoolWaitMs { get; set; }

    /// <summary>
    /// The launcher enforces the timeout inside the sandbox; the runner kills the container itself if no result
    /// has arrived this long after the timeout (a wedged or starved sandbox).
    /// </summary>
    [Range(1, 600)]
    public int KillGraceSeconds { get; set; } = 3;

    /// <summary>How long a finished run's result is kept, for operators and tests asking GET /runs/{id}.</summary>
    [Range(1, 1440)]
    public int ResultRetentionMinutes { get; set; } = 10;

    /// <summary>
    /// Stateful sandboxes this host holds at once (creating ones included); 0 creates none here. Never limited by the
    /// run slots: an idle sandbox takes no CPU. Default: as many as half the memory holds at 256 MiB each (a 128 MiB
    /// sandbox plus the engine's share), like <see cref="MaxConcurrentRuns"/> without its two per core.
    /// </summary>
    [Range(0, 4096)]
    public int MaxSandboxes { get; set; } = Executor.Sandbox.HostCapacity.IdleSandboxes(memoryMbEach: 256);

    /// <summary>
    /// How long a new sandbox's kernel (or a restarted one) may take to be ready before the sandbox counts as broken. Below
    /// SessionService's Sandboxes:CreateWaitSeconds (30), so that a create that cannot start says why before it gives up.
    /// </summary>
    [Range(1, 600)]
    public int SandboxStartSeconds { get; set; } = 20;

    /// <summary>
    /// How many files and directories a sandbox's working directory may hold through its file operations (their bytes
    /// are bounded by Sandbox:FileSizeLimitMb a file and Sandbox:WorkDirSizeMb in all).
    /// </summary>
    [Range(1, 100_000)]
    public int SandboxMaxFiles { get; set; } = 1000;

    private static int DefaultConcurrency() => Executor.Sandbox.HostCapacity.Sandboxes(memoryMbEach: 256);
}
