using System.ComponentModel.DataAnnotations;
using Executor.Contracts;

namespace Executor.Sandbox;

/// <summary>
/// How every sandbox container is built. Warm and cold containers come from the same options, so a warm
/// container is never looser than a cold one. Safe by default; bound from the "Sandbox" section.
/// </summary>
public sealed class SandboxOptions
{
    public const string Section = "Sandbox";

    /// <summary>The python-3.11 runtime's image: a full Python 3 standard library (see eng/prerequisites.sh).</summary>
    [Required]
    public string Image { get; set; } = "executor-python:3.11";

    /// <summary>
    /// The image of the compiled and scripting languages' runtimes (C, C++, Java, JavaScript: gcc, g++, OpenJDK 17 and
    /// Node.js, built by eng/prerequisites.sh). Bash runs in <see cref="Image"/>.
    /// </summary>
    public string LanguagesImage { get; set; } = "executor-languages:1";

    /// <summary>Warm containers each language runtime (C, C++, Java, JavaScript, Bash) keeps ready; a runtime's own PoolSize overrides it.</summary>
    public int LanguagePoolSize { get; set; } = 1;

    /// <summary>The compile stage's wall-clock limit when a submission names none (compiled languages).</summary>
    public int CompileTimeoutSeconds { get; set; } = LimitDefaults.CompileTimeoutSeconds;

    /// <summary>The most of the compiler's output a result keeps.</summary>
    public int CompileOutputLimitBytes { get; set; } = 64 * 1024;

    /// <summary>The runtime of requests that name none (see <see cref="RuntimeCatalog"/>).</summary>
    [Required]
    public string DefaultRuntime { get; set; } = RuntimeCatalog.Python;

    /// <summary>
    /// Names this installation on a shared engine: containers carry it, and the services only ever sweep up
    /// leftovers of their own deployment (a developer's stack and a test run can share one engine).
    /// </summary>
    [Required]
    [RegularExpression("^[a-z0-9][a-z0-9_.-]{0,62}$")]
    public string Deployment { get; set; } = "default";

    /// <summary>
    /// Names this runner host (RunnerService and PrewarmService beside one Docker engine): containers carry it, each host
    /// sweeps up only its own, and results name it. Default: the machine's name.
    /// </summary>
    [Required]
    [RegularExpression("^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")]
    public string Host { get; set; } = Environment.MachineName;

    /// <summary>
    /// A directory of the runner host (the engine sees it at the same path) where the launcher is kept compiled for each
    /// Python the images run (<see cref="LauncherFiles"/>), mounted read-only in every sandbox: a container then boots
    /// from the compiled code instead of compiling the launcher's source, and its command is a few hundred bytes instead
    /// of the whole source. Empty: every container compiles the source from its command, as an engine that cannot see
    /// this host's files needs (the services fall back to that by themselves when the directory is not shared).
    /// </summary>
    public string LauncherDirectory { get; set; } = "/run/executor/launcher";

    /// <summary>How often the services look for containers nobody owns any more.</summary>
    [Range(1, 3600)]
    public int ReapIntervalSeconds { get; set; } = 30;

    /// <summary>Docker engine endpoint; empty means DOCKER_HOST, else the local Unix socket.</summary>
    public string? DockerEndpoint { get; set; }

    /// <summary>OCI runtime, e.g. "runsc" for gVisor where installed; empty means the engine's default.</summary>
    public string? Runtime { get; set; }

    /// <summary>The python-3.11 runtime's memory limit (other runtimes have their own, see <see cref="RuntimeCatalog"/>).</summary>
    [Range(16, 65536)]
    public int MemoryMb { get; set; } = LimitDefaults.MemoryMb;

    [Range(0.01, 64)]
    public double Cpus { get; set; } = 0.5;

    [Range(8, 4096)]
    public int PidsLimit { get; set; } = 64;

    [Range(1, 3600)]
    public int TimeoutSeconds { get; set; } = LimitDefaults.TimeoutSeconds;

    /// <summary>The most a request may ask for with timeout_seconds.</summary>
    [Range(1, 3600)]
    public int MaxTimeoutSeconds { get; set; } = LimitDefaults.MaxTimeoutSeconds;

    /// <summary>The most a request may ask for with memory_mb.</summary>
    [Range(16, 65536)]
    public int MaxMemoryMb { get; set; } = LimitDefaults.MaxMemoryMb;

    /// <summary>Size of the writable work directory holding the user's files.</summary>
    [Range(1, 1024)]
    public int WorkDirSizeMb { get; set; } = 16;

    [Range(1, 1024)]
    public int TmpSizeMb { get; set; } = 16;

    [Range(1, 1024)]
    public int ShmSizeMb { get; set; } = 16;

    /// <summary>Combined stdout and stderr a run may produce; the run is killed when it passes this.</summary>
    [Range(1024, 256L * 1024 * 1024)]
    public long OutputLimitBytes { get; set; } = 1024 * 1024;

    [Range(16, 65536)]
    public int OpenFilesLimit { get; set; } = 256;

    /// <summary>Largest file a sandboxed process may write (RLIMIT_FSIZE).</summary>
    [Range(1, 1024)]
    public int FileSizeLimitMb { get; set; } = 16;

    /// <summary>How many files a run may hand back from /sandbox/out; the rest are listed as dropped.</summary>
    [Range(0, 1024)]
    public int OutFilesMaxCount { get; set; } = 32;

    /// <summary>How many bytes of files, in all, a run may hand back from /sandbox/out.</summary>
    [Range(0, 256L * 1024 * 1024)]
    public long OutFilesMaxBytes { get; set; } = 8 * 1024 * 1024;

    /// <summary>The unprivileged user the sandbox runs as (nobody:nogroup).</summary>
    [Required]
    public string User { get; set; } = "65534:65534";
}
