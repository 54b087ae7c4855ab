using Executor.Sandbox;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;

namespace Executor.UnitTests;

public class RuntimeCatalogTests
{
    public static LanguageRuntime Python(SandboxOptions options) => new RuntimeCatalog(options, new Dictionary<string, RuntimeSettings>()).Default;

    private static RuntimeCatalog FromSettings(SandboxOptions options, params (string Key, string Value)[] settings)
    {
        var configuration = new ConfigurationBuilder()
            .AddInMemoryCollection(settings.Select(s => new KeyValuePair<string, string?>(s.Key, s.Value)))
            .Build();
        return new RuntimeCatalog(Options.Create(options), configuration);
    }

    [Fact]
    public void Seven_runtimes_are_built_in_and_the_plain_python_one_is_the_default()
    {
        var catalog = FromSettings(new SandboxOptions { Image = "my-python:3.11", MemoryMb = 200 });

        Assert.Equal([RuntimeCatalog.Python, RuntimeCatalog.Bash, RuntimeCatalog.C, RuntimeCatalog.Cpp, RuntimeCatalog.Java, RuntimeCatalog.JavaScript,
            RuntimeCatalog.PythonData], catalog.All.Select(r => r.Id));
        var python = catalog.Default;
        Assert.True(python.IsDefault);
        Assert.Equal(("my-python:3.11", 200), (python.Image, python.MemoryMb)); // Sandbox:Image and Sandbox:MemoryMb, as before
        Assert.Empty(python.Preimport);
        var data = catalog.Find(RuntimeCatalog.PythonData)!;
        Assert.False(data.IsDefault);
        Assert.Equal(("executor-python-data:3.11", RuntimeCatalog.DataMemoryMb, 1), (data.Image, data.MemoryMb, data.PoolSize));
        Assert.Contains("pandas", data.Preimport);
        Assert.Contains("matplotlib.pyplot", data.Preimport);
        Assert.Equal("Agg", data.Environment["MPLBACKEND"]);
        Assert.Same(python, catalog.Find(null));
        Assert.Null(catalog.Find("ruby-3"));
    }

    [Fact]
    public void Settings_change_one_field_of_a_built_in_runtime_and_keep_the_rest()
    {
        var catalog = FromSettings(new SandboxOptions(),
            ("Runtimes:python-3.11-data:PoolSize", "3"), ("Runtimes:python-3.11-data:Preimport", "numpy, pandas"));

        var data = catalog.Find(RuntimeCatalog.PythonData)!;
        Assert.Equal(3, data.PoolSize);
        Assert.Equal(["numpy", "pandas"], data.Preimport);
        Assert.Equal("executor-python-data:3.11", data.Image);
        Assert.Equal(RuntimeCatalog.DataMemoryMb, data.MemoryMb);
        Assert.Contains("matplotlib", data.Packages);
    }

    [Fact]
    public void An_operator_adds_a_runtime_removes_one_and_picks_the_default()
    {
        var catalog = FromSettings(new SandboxOptions { DefaultRuntime = "python-3.12" },
            ("Runtimes:python-3.12:Image", "python:3.12-slim"), ("Runtimes:python-3.12:Version", "3.12"),
            ("Runtimes:python-3.11-data:Enabled", "false"));

        Assert.Equal(["python-3.12", RuntimeCatalog.Bash, RuntimeCatalog.C, RuntimeCatalog.Cpp, RuntimeCatalog.Java, RuntimeCatalog.JavaScript,
            RuntimeCatalog.Python], catalog.All.Select(r => r.Id));
        Assert.Equal(("python:3.12-slim", "3.12", true), (catalog.Default.Image, catalog.Default.Version, catalog.Default.IsDefault));
        Assert.Null(catalog.Find(RuntimeCatalog.PythonData));
    }

    [Fact]
    public void The_languages_compile_once_and_run_their_program_with_the_submission_s_arguments()
    {
        var catalog = FromSettings(new SandboxOptions { LanguagesImage = "langs:1", LanguagePoolSize = 2 });

        var c = catalog.Find(RuntimeCatalog.C)!;
        Assert.Equal(("c", "langs:1", 2, true), (c.Language, c.Image, c.PoolSize, c.RunsCommand));
        Assert.Equal(["gcc", "-O2", "-pipe", "-std=gnu17", "-o", "main", "-Wall", "-DX=1", "{source}", "-lm"], c.CompileCommand(["-Wall", "-DX=1"]));
        Assert.Equal(["./main", "a b", "c"], c.RunCommand(["a b", "c"]));
        var java = catalog.Find(RuntimeCatalog.Java)!;
        Assert.Equal(RuntimeCatalog.JavaMemoryMb, java.MemoryMb);
        Assert.Contains("{main_class}", java.RunCommand([]));
        Assert.Null(catalog.Find(RuntimeCatalog.JavaScript)!.CompileCommand(["-O3"]));
        Assert.Equal(["node", "{source}"], catalog.Find(RuntimeCatalog.JavaScript)!.RunCommand([]));
        Assert.Equal("executor-python:3.11", catalog.Find(RuntimeCatalog.Bash)!.Image); // bash is in every image: the plain one
        Assert.False(catalog.Default.RunsCommand); // Python runs in the booted launcher, as ever
    }

    [Fact]
    public void An_operator_adds_a_language_of_their_own_by_its_commands()
    {
        var catalog = FromSettings(new SandboxOptions(),
            ("Runtimes:rust-1.63:Image", "my-rust:1"), ("Runtimes:rust-1.63:Language", "rust"),
            ("Runtimes:rust-1.63:Compile", "rustc -O -o main {options} {source}"), ("Runtimes:rust-1.63:Run", "./main"),
            ("Runtimes:c-gcc-12:Compile", "gcc -O0 -o main {source}"));

        var rust = catalog.Find("rust-1.63")!;
        Assert.Equal(["rustc", "-O", "-o", "main", "{source}"], rust.CompileCommand([]));
        Assert.Equal(["./main", "x"], rust.RunCommand(["x"]));
        Assert.Equal(["gcc", "-O0", "-o", "main", "{source}"], catalog.Find(RuntimeCatalog.C)!.CompileCommand(["-Wall"]));
    }

    [Theory]
    [InlineData("Runtimes:ruby:Compile", "rubyc {source}", "needs an Image")]
    [InlineData("Runtimes:ruby:Version", "3", "needs an Image")]
    [InlineData("Runtimes:Bad Id:Image", "x", "runtime id")]
    [InlineData("Runtimes:python-3.11-data:MemoryMb", "4096", "MemoryMb must be from 16")]
    [InlineData("Runtimes:python-3.11-data:Preimport", "os; import evil", "not a module name")]
    [InlineData("Runtimes:python-3.11-data:Environment:PATH", "/evil", "cannot set 'PATH'")]
    public void Invalid_settings_fail_the_start_with_what_is_wrong(string key, string value, string expected)
    {
        var failure = Assert.Throws<OptionsValidationException>(() => FromSettings(new SandboxOptions(), (key, value)));

        Assert.Contains(expected, failure.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_default_runtime_that_does_not_exist_fails_the_start()
    {
        var failure = Assert.Throws<OptionsValidationException>(() => FromSettings(new SandboxOptions { DefaultRuntime = "python-2" }));

        Assert.Contains("python-2", failure.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_data_sandbox_has_its_image_environment_memory_and_pre_imports()
    {
        var options = new SandboxOptions();
        var data = FromSettings(options).Find(RuntimeCatalog.PythonData)!;

        var spec = SandboxSpec.Create(options, data, "runc", SandboxLimits.Defaults(options, data), new SandboxInstance("prewarm"),
            SandboxLabels.PoolRole, new FakeTimeProvider());

        Assert.Equal("executor-python-data:3.11", spec.Image);
        Assert.Equal(RuntimeCatalog.DataMemoryMb * 1024L * 1024, spec.HostConfig!.Memory);
        Assert.Contains("MPLBACKEND=Agg", spec.Env);
        Assert.Contains("OPENBLAS_NUM_THREADS=1", spec.Env);
        Assert.Contains("HOME=/sandbox", spec.Env);
        Assert.Equal("numpy,pandas,scipy,matplotlib,matplotlib.pyplot", spec.Cmd[5]);
        Assert.Equal(RuntimeCatalog.PythonData, spec.Labels[SandboxLabels.Runtime]);
        // A request's own memory still wins, within the maximum.
        Assert.Equal(200, SandboxLimits.For(options, null, 200, data).MemoryMb);
        Assert.Equal(RuntimeCatalog.DataMemoryMb, SandboxLimits.For(options, null, null, data).MemoryMb);
    }
}
