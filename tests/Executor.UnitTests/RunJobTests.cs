using System.Reflection;
using System.Text.Json;
using Executor.Contracts;
using Executor.SessionCore.Sessions;

namespace Executor.UnitTests;

/// <summary>
/// A run job is built in one place (<see cref="RunRequests"/>) from what the store keeps of a session: its id, entry
/// point, files, trace and options. A field of the job that comes from nowhere, or an option that does not reach the job
/// under its name, fails here, before a claim on another replica could drop it.
/// </summary>
public sealed class RunJobTests
{
    /// <summary>What a job takes from the session itself rather than from its options.</summary>
    private static readonly string[] FromTheSession = [nameof(RunJob.SessionId), nameof(RunJob.Files), nameof(RunJob.Entrypoint), nameof(RunJob.TraceParent)];

    [Fact]
    public void Every_field_of_a_run_job_comes_from_the_session_or_its_options_under_the_same_name_and_type()
    {
        var options = typeof(RunOptions).GetProperties().ToDictionary(p => p.Name, p => p.PropertyType);
        foreach (var field in typeof(RunJob).GetConstructors().Single().GetParameters())
        {
            if (FromTheSession.Contains(field.Name!, StringComparer.OrdinalIgnoreCase))
            {
                continue;
            }
            var name = char.ToUpperInvariant(field.Name![0]) + field.Name[1..];
            Assert.True(options.TryGetValue(name, out var type), $"RunJob.{name} has no RunOptions.{name} to come from");
            Assert.Equal(type, field.ParameterType);
        }
    }

    [Fact]
    public void Every_option_a_run_job_carries_reaches_it()
    {
        var options = Filled(RunOptions.None);
        var job = RunRequests.For("s", "main.py", [new RunFile("main.py", [1])], options, "00-trace");

        foreach (var property in typeof(RunJob).GetProperties().Where(p => typeof(RunOptions).GetProperty(p.Name) is not null))
        {
            Assert.Equal(JsonSerializer.Serialize(typeof(RunOptions).GetProperty(property.Name)!.GetValue(options)),
                JsonSerializer.Serialize(property.GetValue(job)));
        }
        Assert.Equal(("s", "main.py", "00-trace"), (job.SessionId, job.Entrypoint, job.TraceParent));
    }

    /// <summary>The options with every property set to a value that is not its default.</summary>
    public static RunOptions Filled(RunOptions options)
    {
        foreach (var property in typeof(RunOptions).GetProperties(BindingFlags.Public | BindingFlags.Instance).Where(p => p.CanWrite))
        {
            var type = Nullable.GetUnderlyingType(property.PropertyType) ?? property.PropertyType;
            object value = type == typeof(string) ? property.Name.ToLowerInvariant()
                : type == typeof(int) ? 7
                : type == typeof(bool) ? true
                : type == typeof(IReadOnlyList<string>) ? new[] { "-v", property.Name }
                : type == typeof(JsonElement) ? JsonSerializer.SerializeToElement(new { surface = property.Name })
                : type == typeof(SandboxCommand) ? new SandboxCommand("sbx_1", SandboxCommandKinds.Run, "x + 1", "a.txt", 5, 9)
                : type == typeof(EgressPolicy) ? new EgressPolicy(["pypi.example.org", "api.example.com:8443"], 1024, 3)
                : type == typeof(GradingSpec) ? new GradingSpec([new TestCase("one", "1 2", "3", 2.5)], Comparisons.Tokens, 0.01, StopOnFailure: true)
                : type == typeof(BuildOptions) ? new BuildOptions(["-Wall"], 5)
                : throw new InvalidOperationException($"RunOptions.{property.Name} is of a type this test cannot fill ({type}): teach it");
            options = With(options, property, value);
        }
        return options;
    }

    /// <summary>A copy of the record with one property changed (what <c>with</c> does, by reflection).</summary>
    private static RunOptions With(RunOptions options, PropertyInfo property, object value)
    {
        var copy = (RunOptions)typeof(RunOptions).GetMethod("<Clone>$")!.Invoke(options, null)!;
        property.SetValue(copy, value);
        return copy;
    }
}
