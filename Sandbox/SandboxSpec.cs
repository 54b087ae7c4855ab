using System.Globalization;
using Docker.DotNet.Models;
using Executor.Contracts;

namespace Executor.Sandbox;

/// <summary>Turns <see cref="SandboxOptions"/> into the engine's container definition: the one place limits live.</summary>
public static class SandboxSpec
{
    /// <summary>
    /// A sandbox container of <paramref name="language"/> (image, environment, pre-imports) for <paramref name="runtime"/>,
    /// the OCI runtime that will run it (<see cref="SandboxRuntime.Name"/>): the seccomp profile depends on it.
    /// <paramref name="egressDirectory"/>, for a sandbox with egress, is the runner host's directory of the run's proxy
    /// socket: mounted read-only at <see cref="LauncherEgress.Directory"/>, the one way out of a container that keeps
    /// network mode none. <paramref name="launcher"/>: the host's compiled launcher, which the sandbox boots from once
    /// it is ready (without it, or until then, the container compiles the launcher's source from its command).
    /// </summary>
    public static CreateContainerParameters Create(
        SandboxOptions options, LanguageRuntime language, string runtime, SandboxLimits limits, SandboxInstance owner, string role,
        TimeProvider time, string? sessionId = null, string? name = null, string? egressDirectory = null, LauncherFiles? launcher = null)
    {
        var (command, launcherMount) = launcher?.Boot(options.User, language.Preimport) ?? (Launcher.Command(options.User, language.Preimport), null);
        List<Mount> mounts = [];
        if (launcherMount is not null)
        {
            mounts.Add(launcherMount);
        }
        if (egressDirectory is not null)
        {
            mounts.Add(new Mount { Type = "bind", Source = egressDirectory, Target = LauncherEgress.Directory, ReadOnly = true });
        }
        var labels = new Dictionary<string, string>
        {
            [SandboxLabels.Managed] = "true",
            [SandboxLabels.Deployment] = options.Deployment,
            [SandboxLabels.Host] = options.Host,
            [SandboxLabels.Service] = owner.Service,
            [SandboxLabels.Role] = role,
            [SandboxLabels.Runtime] = language.Id,
            [SandboxLabels.Instance] = owner.Id,
            [SandboxLabels.CreatedAt] = time.GetUtcNow().ToString("O", CultureInfo.InvariantCulture),
        };
        if (sessionId is not null)
        {
            labels[SandboxLabels.Session] = sessionId;
        }

        var memory = limits.MemoryMb * 1024L * 1024;
        var gvisor = SeccompProfile.IsGvisor(runtime);
        return new CreateContainerParameters
        {
            Name = name,
            Image = language.Image,
            Cmd = command,
            // The launcher starts as root and the script's process drops to options.User (launcher.py says why).
            User = "0:0",
            Labels = labels,
            // Nothing from the services' environment: only what Python needs.
            Env =
            [
                "PATH=/usr/local/bin:/usr/bin:/bin", "LANG=C.UTF-8", "HOME=" + Launcher.WorkDirectory, "PYTHONDONTWRITEBYTECODE=1",
                .. language.Environment.Select(v => $"{v.Key}={v.Value}"),
            ],
            // The job arrives on stdin; closing our side of the attach delivers EOF.
            OpenStdin = true,
            StdinOnce = true,
            AttachStdin = true,
            AttachStdout = true,
            AttachStderr = true,
            Tty = false,
            NetworkDisabled = true,
            HostConfig = new HostConfig
            {
                NetworkMode = "none",
                Memory = memory,
                MemorySwap = memory, // equal to memory: no swap beyond it
                MemorySwappiness = 0,
                NanoCPUs = (long)(limits.Cpus * 1_000_000_000),
                PidsLimit = HostPidsLimit(limits, gvisor),
                ReadonlyRootfs = true,
                CapDrop = ["ALL"],
                CapAdd = [.. Launcher.Capabilities],
                // Executor's own seccomp profile, passed by value: it holds whatever the engine's default is.
                SecurityOpt = ["no-new-privileges", "seccomp=" + SeccompProfile.For(runtime)],
                Privileged = false,
                // The launcher is PID 1 so that it outlives anything the script does and can kill it all.
                Init = false,
                Runtime = string.IsNullOrWhiteSpace(options.Runtime) ? null : options.Runtime,
                Tmpfs = Tmpfs(options, gvisor),
                // A mount, not a bind string: the directory must exist (a bind would make it) and its name may hold ':'.
                Mounts = mounts.Count == 0 ? null : mounts,
                ShmSize = options.ShmSizeMb * 1024L * 1024,
                Ulimits =
                [
                    new Ulimit { Name = "nofile", Soft = options.OpenFilesLimit, Hard = options.OpenFilesLimit },
                    new Ulimit { Name = "fsize", Soft = options.FileSizeLimitMb * 1024L * 1024, Hard = options.FileSizeLimitMb * 1024L * 1024 },
                    new Ulimit { Name = "core", Soft = 0, Hard = 0 },
                    .. gvisor ? [new Ulimit { Name = "nproc", Soft = limits.PidsLimit, Hard = limits.PidsLimit }] : Array.Empty<Ulimit>(),
                ],
                // Output travels over the attach stream only: nothing is written to the host's disk.
                LogConfig = new LogConfig { Type = "none" },
                AutoRemove = false,
                RestartPolicy = new RestartPolicy { Name = RestartPolicyKind.No },
            },
        };
    }

    /// <summary>
    /// gVisor's /proc shows every process's <c>fd/</c>, <c>fdinfo/</c>, <c>environ</c> and <c>maps</c> to anyone (modes
    /// 0555 and 0444 whatever the process's dumpability, measured on runsc 20221219): an empty read-only directory of
    /// root's covers the launcher's (PID 1). runc needs none (the launcher is non-dumpable there, so its entries are
    /// root's) and cannot start with a mount over /proc/1.
    /// </summary>
    private const string ProcOfTheLauncher = "/proc/1";

    private static Dictionary<string, string> Tmpfs(SandboxOptions options, bool gvisor)
    {
        var tmpfs = new Dictionary<string, string>
        {
            // exec: a compiled language's program runs from the work directory (Docker's tmpfs default is noexec).
            [Launcher.WorkDirectory] = $"rw,exec,nosuid,nodev,size={options.WorkDirSizeMb}m,uid={Uid(options)},gid={Gid(options)},mode=0700",
            ["/tmp"] = $"rw,nosuid,nodev,noexec,size={options.TmpSizeMb}m",
        };
        if (gvisor)
        {
            tmpfs[ProcOfTheLauncher] = "ro,nosuid,nodev,noexec,size=4k,mode=0500";
        }
        return tmpfs;
    }

    /// <summary>
    /// Under runc the engine's pids limit counts the sandbox's own processes and threads. Under gVisor it counts the
    /// host threads of gVisor's kernel and one host process per sandboxed process (ptrace platform): about 40 for a
    /// python that has just started (measured), and at 64 a fork bomb crashes gVisor itself. There the limit on the
    /// sandbox's processes is RLIMIT_NPROC, which gVisor enforces per sandbox (under runc it would count every
    /// process of that uid on the host), and the host limit only bounds gVisor.
    /// </summary>
    private static long HostPidsLimit(SandboxLimits limits, bool gvisor) => gvisor ? limits.PidsLimit * 8L : limits.PidsLimit;

    private static string Uid(SandboxOptions options) => options.User.Split(':')[0];

    private static string Gid(SandboxOptions options) => options.User.Split(':') is [_, var gid] ? gid : options.User;
}
