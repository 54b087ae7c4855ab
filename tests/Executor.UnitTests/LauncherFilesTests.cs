using System.Diagnostics;
using Executor.Sandbox;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;

namespace Executor.UnitTests;

/// <summary>
/// The launcher kept compiled on the host (<see cref="LauncherFiles"/>): what a sandbox's command and mounts are before
/// and after, and the loader itself, run by the host's python3 against a stand-in launcher. Real sandboxes booting from
/// it are every end-to-end test's runs.
/// </summary>
public sealed class LauncherFilesTests : IDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "executor-launcher-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_directory))
        {
            Directory.Delete(_directory, recursive: true);
        }
    }

    private LauncherFiles Create(string? directory = null) =>
        new(Options.Create(new SandboxOptions { LauncherDirectory = directory ?? _directory }), new FakeTimeProvider(), NullLogger<LauncherFiles>.Instance);

    [Fact]
    public void Until_an_image_has_compiled_it_a_sandbox_carries_the_launchers_source()
    {
        var files = Create();

        Assert.True(files.Shared);
        Assert.Equal(Launcher.Source, File.ReadAllText(Path.Combine(_directory, files.Name + ".py")));
        var (command, mount) = files.Boot("65534:65534", []);
        Assert.Equal(Launcher.Command("65534:65534", []), command);
        Assert.Null(mount);
    }

    [Fact]
    public void Once_compiled_a_sandbox_boots_from_the_hosts_directory_mounted_read_only()
    {
        var files = Create();

        Assert.True(files.Store("cpython-311\n" + Convert.ToBase64String([1, 2, 3]) + "\n"));

        var (command, mount) = files.Boot("65534:65534", ["numpy", "pandas"]);
        Assert.Equal(["python3", "-I", "-c"], command.Take(3));
        Assert.InRange(command[3].Length, 1, 1024); // the loader, not 120 KB of source
        Assert.Equal(["65534:65534", "numpy,pandas"], command.Skip(4));
        Assert.NotNull(mount);
        Assert.Equal(("bind", _directory, LauncherFiles.MountedDirectory, true), (mount.Type, mount.Source, mount.Target, mount.ReadOnly));
        Assert.True(files.CompiledFor("cpython-311"));
        Assert.False(files.CompiledFor("cpython-312"));
        Assert.True(Create().Compiled); // another service of the host finds it on the disk
        var spec = SandboxSpec.Create(new SandboxOptions(), RuntimeCatalogTests.Python(new SandboxOptions()), "runc", SandboxLimits.Defaults(new SandboxOptions()),
            new SandboxInstance("runner"), SandboxLabels.ColdRole, new FakeTimeProvider(), egressDirectory: "/run/executor/egress/x", launcher: files);
        Assert.Equal([LauncherFiles.MountedDirectory, Executor.Contracts.LauncherEgress.Directory], spec.HostConfig!.Mounts!.Select(m => m.Target));
        Assert.All(spec.HostConfig.Mounts!, m => Assert.True(m.ReadOnly));
    }

    [Theory]
    [InlineData("")]
    [InlineData("cpython-311\nnot base64!\n")]
    [InlineData("../../etc/x\nAAAA\n")]
    [InlineData("cpython-311\n")]
    public void What_is_not_a_compiled_launcher_is_not_kept(string printed)
    {
        var files = Create();

        Assert.False(files.Store(printed));
        Assert.False(files.Compiled);
        Assert.Single(Directory.GetFiles(_directory)); // the source alone
    }

    [Fact]
    public void A_directory_that_cannot_be_written_leaves_the_source_in_the_command()
    {
        var files = Create("/proc/executor-launcher");

        Assert.False(files.Shared);
        Assert.Null(files.CompileCommand());
        Assert.Equal(Launcher.Source, files.Boot("65534:65534", []).Command[3]);
    }

    [Fact]
    public async Task The_loader_runs_the_compiled_code_as_the_program_would_run_and_else_compiles_the_source()
    {
        var files = Create();
        var source = Path.Combine(_directory, files.Name + ".py");
        // A stand-in launcher: what it sees of the program it replaces.
        await File.WriteAllTextAsync(source, "import sys\nprint('compiled', __name__, sys.argv[1:], __file__ if '__file__' in globals() else '-')\n");
        var (compile, _) = files.CompileCommand()!.Value;
        Assert.True(files.Store(await Python3Async(compile[3], source)));

        // The source changes after compiling: the loader runs what was compiled, and without it compiles the source.
        await File.WriteAllTextAsync(source, "import sys\nprint('source', __name__, sys.argv[1:])\n");
        var loader = files.Boot("65534:65534", ["numpy"]).Command[3].Replace(LauncherFiles.MountedDirectory, _directory, StringComparison.Ordinal);
        Assert.Equal("compiled __main__ ['65534:65534', 'numpy'] -\n", await Python3Async(loader, "65534:65534", "numpy"));
        foreach (var compiled in Directory.GetFiles(_directory, files.Name + ".cpython-*"))
        {
            File.Delete(compiled);
        }
        Assert.Equal("source __main__ ['65534:65534', 'numpy']\n", await Python3Async(loader, "65534:65534", "numpy"));
    }

    private static async Task<string> Python3Async(string program, params string[] arguments)
    {
        var start = new ProcessStartInfo("python3") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in new[] { "-I", "-c", program }.Concat(arguments))
        {
            start.ArgumentList.Add(argument);
        }
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = await process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        Assert.True(process.ExitCode == 0, stderr);
        return await stdout;
    }
}
