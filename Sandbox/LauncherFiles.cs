using System.Security.Cryptography;
using System.Text;
using Docker.DotNet.Models;
using Microsoft.Extensions.Options;

namespace Executor.Sandbox;

/// <summary>
/// The launcher kept compiled on the runner host, so that a sandbox boots without compiling its source. Every container
/// compiled the launcher (120 KB of Python) from its command before it could take a job: about 30 ms of CPU a container,
/// on the cold path and in every pool refill under traffic. Here the source and its code, marshalled by each Python the
/// images run (one file per <c>sys.implementation.cache_tag</c>), live in <see cref="SandboxOptions.LauncherDirectory"/>,
/// named by the source's hash (versions never mix); it is mounted read-only in the sandbox, and the command is a loader
/// of a few hundred bytes that unmarshals the code of its own Python, or compiles the source beside it if there is none.
/// The code is compiled by the image's own Python, in a container that reads the source through the mount
/// (<see cref="CompileCommand"/>): that the engine sees the directory is proven before any sandbox depends on it. Until
/// then (or when the directory cannot be written) sandboxes carry the source in their command, as before.
/// </summary>
public sealed partial class LauncherFiles
{
    /// <summary>Where the directory is mounted in a sandbox.</summary>
    public const string MountedDirectory = "/run/executor/launcher";

    private static readonly TimeSpan RecheckInterval = TimeSpan.FromSeconds(1);

    private readonly TimeProvider _time;
    private readonly ILogger<LauncherFiles> _logger;
    private readonly string? _directory;
    private volatile bool _compiled;
    private long _nextCheckTicks; // UTC ticks: the disk is looked at again from then on

    public LauncherFiles(IOptions<SandboxOptions> options, TimeProvider time, ILogger<LauncherFiles> logger)
    {
        _time = time;
        _logger = logger;
        Name = "launcher-" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(Launcher.Source)))[..16];
        _directory = string.IsNullOrWhiteSpace(options.Value.LauncherDirectory) ? null : options.Value.LauncherDirectory;
        _directory = _directory is not null && TryWriteSource(_directory) ? _directory : null;
    }

    /// <summary>The launcher's files' common name (its source's hash).</summary>
    public string Name { get; }

    /// <summary>Whether the source is on the host, so that a container of an image can compile it (<see cref="CompileCommand"/>).</summary>
    public bool Shared => _directory is not null;

    /// <summary>
    /// Whether some image's Python has compiled the launcher through the mount: the engine sees the directory, so
    /// sandboxes boot from it. Checked on the disk (another service of the host may be the one that compiled it).
    /// </summary>
    public bool Compiled
    {
        get
        {
            if (_compiled || _directory is null)
            {
                return _compiled;
            }
            var now = _time.GetUtcNow().UtcTicks;
            if (now < Interlocked.Read(ref _nextCheckTicks))
            {
                return false;
            }
            Interlocked.Exchange(ref _nextCheckTicks, now + RecheckInterval.Ticks);
            return _compiled = Directory.EnumerateFiles(_directory, Name + ".cpython-*").Any();
        }
    }

    /// <summary>Whether the launcher is compiled for this Python (<c>sys.implementation.cache_tag</c>, e.g. cpython-311).</summary>
    public bool CompiledFor(string cacheTag) => _directory is not null && File.Exists(Path.Combine(_directory, $"{Name}.{cacheTag}"));

    /// <summary>
    /// The sandbox's command and mount: the loader with the directory once the launcher is compiled, else the whole
    /// source and no mount.
    /// </summary>
    public (IList<string> Command, Mount? Mount) Boot(string user, IReadOnlyList<string> preimport) => Compiled
        ? (["python3", "-I", "-c", Loader, user, string.Join(',', preimport)], ReadOnlyMount)
        : (Launcher.Command(user, preimport), null);

    private Mount ReadOnlyMount => new() { Type = "bind", Source = _directory, Target = MountedDirectory, ReadOnly = true };

    /// <summary>
    /// A container's command and mount that compile the source with the image's Python and print the marshalled code
    /// (base64, after its cache tag on the first line); null when the source is not on the host.
    /// </summary>
    public (IList<string> Command, Mount Mount)? CompileCommand() => _directory is null
        ? null
        : (["python3", "-I", "-c", CompileScript, $"{MountedDirectory}/{Name}.py"], ReadOnlyMount);

    /// <summary>Keeps what <see cref="CompileCommand"/> printed; false if it is not a compiled launcher.</summary>
    public bool Store(string printed)
    {
        var lines = printed.Trim().Split('\n');
        if (_directory is null || lines.Length != 2 || !lines[0].StartsWith("cpython-", StringComparison.Ordinal)
            || lines[0].Any(c => !char.IsAsciiLetterOrDigit(c) && c != '-'))
        {
            return false;
        }
        byte[] code;
        try
        {
            code = Convert.FromBase64String(lines[1]);
        }
        catch (FormatException)
        {
            return false;
        }
        if (!TryWrite(Path.Combine(_directory, $"{Name}.{lines[0]}"), code))
        {
            return false;
        }
        _compiled = true;
        LogCompiled(lines[0], _directory);
        return true;
    }

    // The loader runs as the -c program: the launcher's code runs in the same __main__ namespace, with the same
    // sys.argv (user, pre-imports) and the same file name ("<string>") as when its source was the program.
    private string Loader => $"""
        import marshal, sys
        _launcher = "{MountedDirectory}/{Name}"
        try:
            with open(_launcher + "." + sys.implementation.cache_tag, "rb") as _file:
                _code = marshal.loads(_file.read())
        except OSError:
            with open(_launcher + ".py", encoding="utf-8") as _file:
                _code = compile(_file.read(), "<string>", "exec")
        del _launcher, _file
        exec(_code)
        """;

    private const string CompileScript = """
        import base64, marshal, sys
        with open(sys.argv[1], encoding="utf-8") as source:
            code = compile(source.read(), "<string>", "exec")
        print(sys.implementation.cache_tag)
        print(base64.b64encode(marshal.dumps(code)).decode())
        """;

    private bool TryWriteSource(string directory)
    {
        try
        {
            Directory.CreateDirectory(directory);
            var path = Path.Combine(directory, Name + ".py");
            return File.Exists(path) || TryWrite(path, Encoding.UTF8.GetBytes(Launcher.Source));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            LogNotShared(directory, e.Message);
            return false;
        }
    }

    /// <summary>Whole or not at all: written aside, then renamed (another service of the host may write the same file).</summary>
    private bool TryWrite(string path, byte[] content)
    {
        var aside = $"{path}.{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(6))}.tmp";
        try
        {
            File.WriteAllBytes(aside, content);
            File.Move(aside, path, overwrite: true);
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            LogNotShared(Path.GetDirectoryName(path) ?? path, e.Message);
            try
            {
                File.Delete(aside);
            }
            catch (Exception gone) when (gone is IOException or UnauthorizedAccessException)
            {
            }
            return false;
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "The launcher is compiled for {CacheTag} in {Directory}: sandboxes boot from it")]
    private partial void LogCompiled(string cacheTag, string directory);

    [LoggerMessage(Level = LogLevel.Warning, Message = "The launcher cannot be kept in {Directory} ({Reason}): every sandbox compiles its source")]
    private partial void LogNotShared(string directory, string reason);
}
