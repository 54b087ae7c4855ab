using System.Text.RegularExpressions;
using Microsoft.Extensions.Configuration;
using Executor.Contracts;
using Microsoft.Extensions.Options;

namespace Executor.Sandbox;

/// <summary>
/// A runtime a script can ask for: an image and its defaults. <see cref="Preimport"/> is what the launcher imports
/// before it forks the script's process, so a warm sandbox of this runtime finds them in sys.modules;
/// <see cref="Packages"/> is what GET /runtimes reports the versions of.
/// </summary>
/// <param name="Compile">
/// A compiled language's compile command (null: none), run once before the program, as the sandbox's user in /sandbox.
/// Its tokens: {source} (the entry file), {options} (the submission's compiler options, spliced), {main_class} (Java:
/// the class that declares main, found by the launcher).
/// </param>
/// <param name="Run">The program's command, with {source}, {main_class} and {args} (spliced); null: Python, run in the booted launcher itself.</param>
/// <param name="VersionCommand">What prints the language's version (GET /runtimes); null: the Python interpreter's.</param>
public sealed record LanguageRuntime(
    string Id,
    string Language,
    string Version,
    string Image,
    int MemoryMb,
    int PoolSize,
    IReadOnlyList<string> Preimport,
    IReadOnlyList<string> Packages,
    IReadOnlyDictionary<string, string> Environment,
    bool IsDefault,
    IReadOnlyList<string>? Compile = null,
    IReadOnlyList<string>? Run = null,
    IReadOnlyList<string>? VersionCommand = null)
{
    /// <summary>Whether its programs run as a command of their own rather than in the booted Python launcher.</summary>
    public bool RunsCommand => Run is not null;

    /// <summary>
    /// The compile command for this job (null when the language does not compile), its {options} spliced; {source} and
    /// {main_class} are the launcher's to fill.
    /// </summary>
    public IReadOnlyList<string>? CompileCommand(IReadOnlyList<string>? compilerOptions) =>
        Compile is null ? null : Splice(Compile, "{options}", compilerOptions ?? []);

    /// <summary>The run command for this job, its {args} spliced (with no {args} token, they follow the command).</summary>
    public IReadOnlyList<string> RunCommand(IReadOnlyList<string> args) =>
        Run!.Contains("{args}") ? Splice(Run!, "{args}", args) : [.. Run!, .. args];

    private static string[] Splice(IReadOnlyList<string> command, string token, IReadOnlyList<string> values) =>
        [.. command.SelectMany(part => part == token ? values : [part])];
}

/// <summary>
/// One runtime's settings, bound from Runtimes:{id}. Every one is optional for a built-in runtime (null keeps the
/// built-in value); a runtime of the operator's own needs at least an Image. Lists are comma-separated.
/// </summary>
public sealed class RuntimeSettings
{
    public string? Language { get; set; }

    public string? Version { get; set; }

    public string? Image { get; set; }

    public int? MemoryMb { get; set; }

    /// <summary>Warm containers kept ready for this runtime (the default runtime's is Pool:TargetSize).</summary>
    public int? PoolSize { get; set; }

    /// <summary>Modules the launcher imports before the script's process is forked, e.g. "numpy,pandas".</summary>
    public string? Preimport { get; set; }

    /// <summary>Distributions whose versions GET /runtimes reports, e.g. "numpy,pandas".</summary>
    public string? Packages { get; set; }

    /// <summary>Variables the sandbox's processes get, on top of PATH, LANG and HOME.</summary>
    public Dictionary<string, string>? Environment { get; set; }

    /// <summary>The compile command, space-separated (see <see cref="LanguageRuntime.Compile"/>); "" removes a built-in one.</summary>
    public string? Compile { get; set; }

    /// <summary>The run command, space-separated (see <see cref="LanguageRuntime.Run"/>).</summary>
    public string? Run { get; set; }

    /// <summary>What prints the language's version, space-separated, e.g. "gcc -dumpfullversion".</summary>
    public string? VersionCommand { get; set; }

    /// <summary>false removes a built-in runtime (never the default one).</summary>
    public bool? Enabled { get; set; }
}

/// <summary>
/// The runtimes this runner host offers: python-3.11 (the image of Sandbox:Image, the standard library and pytest: the
/// default, see Sandbox:DefaultRuntime), python-3.11-data (numpy, pandas, scipy, matplotlib with the Agg backend,
/// pytest), and the languages graders' students write: c-gcc-12, cpp-gcc-12, java-17, javascript-node-18 (the image of
/// Sandbox:LanguagesImage) and bash-5.2 (Sandbox:Image); changed or extended by the Runtimes section. RunnerService and PrewarmService of one host read the same
/// settings, so warm and cold sandboxes of a runtime are the same. Invalid settings fail the start.
/// </summary>
public sealed partial class RuntimeCatalog
{
    public const string Section = "Runtimes";
    public const string Python = "python-3.11";
    public const string PythonData = "python-3.11-data";
    public const string C = "c-gcc-12";
    public const string Cpp = "cpp-gcc-12";
    public const string Java = "java-17";
    public const string JavaScript = "javascript-node-18";
    public const string Bash = "bash-5.2";

    /// <summary>
    /// What a JVM needs to start fast and fit a sandbox (half a CPU, 64 processes, 256 MiB): one GC thread, the client
    /// compiler only, no shared perf-data file in /tmp. javac is a JVM too (-J passes them to it).
    /// </summary>
    private static readonly string[] JvmOptions = ["-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-XX:CICompilerCount=1", "-XX:-UsePerfData", "-Xshare:auto"];

    /// <summary>The memory a Java run gets unless it asks for another: a JVM's own needs are about 40 MiB before any program.</summary>
    public const int JavaMemoryMb = 256;

    /// <summary>
    /// What importing numpy, pandas, scipy and matplotlib.pyplot costs a sandbox: 86 MiB of resident memory in the
    /// launcher (measured: see docs/api.md, "Runtimes"), which its script's process shares. 384 MiB leaves a script about
    /// 300 MiB of its own for data, within the default Sandbox:MaxMemoryMb of 512.
    /// </summary>
    public const int DataMemoryMb = 384;

    private readonly Dictionary<string, LanguageRuntime> _runtimes;

    public RuntimeCatalog(IOptions<SandboxOptions> sandbox, IConfiguration configuration)
        : this(sandbox.Value, Bind(configuration.GetSection(Section)))
    {
    }

    public RuntimeCatalog(SandboxOptions sandbox, IReadOnlyDictionary<string, RuntimeSettings> settings)
    {
        var builtIn = new Dictionary<string, LanguageRuntime>(StringComparer.Ordinal)
        {
            [Python] = new(Python, SourceLanguages.Python, "3.11", sandbox.Image, sandbox.MemoryMb, 0, [], ["pytest"], new Dictionary<string, string>(), false),
            // Within a lower Sandbox:MaxMemoryMb, if an operator set one.
            [PythonData] = new(PythonData, SourceLanguages.Python, "3.11", "executor-python-data:3.11", Math.Min(DataMemoryMb, sandbox.MaxMemoryMb), 1,
                ["numpy", "pandas", "scipy", "matplotlib", "matplotlib.pyplot"],
                ["numpy", "pandas", "scipy", "matplotlib", "pytest"],
                new Dictionary<string, string>
                {
                    // Plots render to files, without a display.
                    ["MPLBACKEND"] = "Agg",
                    ["MPLCONFIGDIR"] = "/tmp/matplotlib",
                    // A sandbox has half a CPU: BLAS and OpenMP thread pools would only add threads (and pids) to it.
                    ["OPENBLAS_NUM_THREADS"] = "1",
                    ["OMP_NUM_THREADS"] = "1",
                    ["MKL_NUM_THREADS"] = "1",
                },
                false),
        };
        foreach (var language in Languages(sandbox))
        {
            builtIn[language.Id] = language;
        }
        var problems = new List<string>();
        foreach (var (id, custom) in settings)
        {
            if (!IdPattern().IsMatch(id))
            {
                problems.Add($"Runtimes:{id}: a runtime id is lowercase letters, digits, '.', '_' and '-' (at most 63)");
                continue;
            }
            if (custom.Enabled == false)
            {
                builtIn.Remove(id);
                continue;
            }
            if (!builtIn.TryGetValue(id, out var basis))
            {
                if (string.IsNullOrWhiteSpace(custom.Image))
                {
                    problems.Add($"Runtimes:{id}: a runtime of your own needs an Image");
                    continue;
                }
                basis = new(id, "python", "3", custom.Image, sandbox.MemoryMb, 1, [], [], new Dictionary<string, string>(), false);
            }
            builtIn[id] = basis with
            {
                Language = custom.Language ?? basis.Language,
                Version = custom.Version ?? basis.Version,
                Image = string.IsNullOrWhiteSpace(custom.Image) ? basis.Image : custom.Image,
                MemoryMb = custom.MemoryMb ?? basis.MemoryMb,
                PoolSize = custom.PoolSize ?? basis.PoolSize,
                Preimport = custom.Preimport is null ? basis.Preimport : List(custom.Preimport),
                Packages = custom.Packages is null ? basis.Packages : List(custom.Packages),
                Environment = custom.Environment is null ? basis.Environment : new Dictionary<string, string>(custom.Environment),
                Compile = custom.Compile is null ? basis.Compile : custom.Compile.Length == 0 ? null : Words(custom.Compile),
                Run = custom.Run is null ? basis.Run : Words(custom.Run),
                VersionCommand = custom.VersionCommand is null ? basis.VersionCommand : Words(custom.VersionCommand),
            };
        }
        if (!builtIn.ContainsKey(sandbox.DefaultRuntime))
        {
            problems.Add($"Sandbox:DefaultRuntime is '{sandbox.DefaultRuntime}', which is not a runtime (known: {string.Join(", ", builtIn.Keys)})");
        }
        foreach (var runtime in builtIn.Values)
        {
            if (runtime.MemoryMb < 16 || runtime.MemoryMb > sandbox.MaxMemoryMb)
            {
                problems.Add($"Runtimes:{runtime.Id}:MemoryMb must be from 16 to Sandbox:MaxMemoryMb ({sandbox.MaxMemoryMb}); it is {runtime.MemoryMb}");
            }
            if (runtime.PoolSize is < 0 or > 1024)
            {
                problems.Add($"Runtimes:{runtime.Id}:PoolSize must be from 0 to 1024");
            }
            if (runtime.Preimport.FirstOrDefault(m => !ModulePattern().IsMatch(m)) is { } module)
            {
                problems.Add($"Runtimes:{runtime.Id}:Preimport holds '{module}', which is not a module name");
            }
            if (runtime.Compile is not null && runtime.Run is null)
            {
                problems.Add($"Runtimes:{runtime.Id}: a runtime that compiles needs a Run command too");
            }
            if (runtime.Environment.Keys.FirstOrDefault(k => !VariablePattern().IsMatch(k) || k is "PATH" or "HOME") is { } variable)
            {
                problems.Add($"Runtimes:{runtime.Id}:Environment cannot set '{variable}'");
            }
        }
        if (problems.Count > 0)
        {
            throw new OptionsValidationException(Section, typeof(RuntimeSettings), problems);
        }
        _runtimes = builtIn.ToDictionary(p => p.Key, p => p.Value with { IsDefault = p.Key == sandbox.DefaultRuntime }, StringComparer.Ordinal);
        Default = _runtimes[sandbox.DefaultRuntime];
        Summary = string.Join(", ", All.Select(r => $"{r.Id} ({r.Image}, {r.MemoryMb} MiB{(r.IsDefault ? ", default" : "")})"));
    }

    /// <summary>Every runtime in a line, for the logs.</summary>
    public string Summary { get; }

    public LanguageRuntime Default { get; }

    /// <summary>Every runtime, the default first.</summary>
    public IReadOnlyList<LanguageRuntime> All => [Default, .. _runtimes.Values.Where(r => !r.IsDefault).OrderBy(r => r.Id, StringComparer.Ordinal)];

    /// <summary>The runtime of that id (the default one for null); null when this host has no such runtime.</summary>
    public LanguageRuntime? Find(string? id) => id is null ? Default : _runtimes.GetValueOrDefault(id);

    /// <summary>
    /// The built-in languages besides Python, as Judge0 and Piston run them: the program's file compiled (C, C++, Java)
    /// into /sandbox, then run with the submission's arguments. Java runs the class that declares main, whatever its file
    /// is called. Their warm containers (Sandbox:LanguagePoolSize each) have the launcher booted and the compiler on disk.
    /// </summary>
    private static IEnumerable<LanguageRuntime> Languages(SandboxOptions sandbox)
    {
        var none = new Dictionary<string, string>();
        LanguageRuntime Language(string id, string language, string version, string image, int memoryMb,
            string[]? compile, string[] run, string[] versionCommand) =>
            new(id, language, version, image, Math.Min(memoryMb, sandbox.MaxMemoryMb), sandbox.LanguagePoolSize, [], [], none, false, compile, run, versionCommand);
        yield return Language(C, SourceLanguages.C, "12", sandbox.LanguagesImage, sandbox.MemoryMb,
            ["gcc", "-O2", "-pipe", "-std=gnu17", "-o", "main", "{options}", "{source}", "-lm"], ["./main", "{args}"], ["gcc", "-dumpfullversion"]);
        yield return Language(Cpp, SourceLanguages.Cpp, "12", sandbox.LanguagesImage, sandbox.MemoryMb,
            ["g++", "-O2", "-pipe", "-std=gnu++17", "-o", "main", "{options}", "{source}"], ["./main", "{args}"], ["g++", "-dumpfullversion"]);
        yield return Language(Java, SourceLanguages.Java, "17", sandbox.LanguagesImage, JavaMemoryMb,
            ["javac", .. JvmOptions.Select(o => "-J" + o), "-encoding", "UTF-8", "-d", ".", "{options}", "{source}"],
            ["java", .. JvmOptions, "-cp", ".", "{main_class}", "{args}"], ["javac", "-version"]);
        yield return Language(JavaScript, SourceLanguages.JavaScript, "18", sandbox.LanguagesImage, sandbox.MemoryMb,
            null, ["node", "{source}", "{args}"], ["node", "--version"]);
        yield return Language(Bash, SourceLanguages.Bash, "5.2", sandbox.Image, sandbox.MemoryMb,
            null, ["bash", "{source}", "{args}"], ["bash", "-c", "echo $BASH_VERSION"]);
    }

    private static string[] Words(string value) => value.Split(' ', StringSplitOptions.RemoveEmptyEntries);

    private static Dictionary<string, RuntimeSettings> Bind(IConfigurationSection section) =>
        section.GetChildren().ToDictionary(child => child.Key, child => child.Get<RuntimeSettings>() ?? new RuntimeSettings(), StringComparer.Ordinal);

    private static string[] List(string value) => value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    [GeneratedRegex("^[a-z0-9][a-z0-9._-]{0,62}$")]
    private static partial Regex IdPattern();

    [GeneratedRegex(@"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")]
    private static partial Regex ModulePattern();

    [GeneratedRegex("^[A-Za-z_][A-Za-z0-9_]*$")]
    private static partial Regex VariablePattern();
}
