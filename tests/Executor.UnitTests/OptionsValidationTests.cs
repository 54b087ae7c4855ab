using System.Reflection;
using Executor.SessionCore.Access;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Executor.UnitTests;

/// <summary>
/// Settings are validated when a service starts, nested ones too: data annotations alone stop at the first level, so a
/// nested object's rules hold only when its property says to validate its members.
/// </summary>
public sealed class OptionsValidationTests
{
    [Theory]
    [InlineData("Auth:Defaults:RunsPerMinute", "0")]
    [InlineData("Auth:Defaults:MaxConcurrentRuns", "0")]
    [InlineData("Auth:Defaults:MaxMemoryMb", "1")]
    public void A_bad_nested_auth_default_is_refused_naming_the_setting(string setting, string value)
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Configuration.AddInMemoryCollection([new(setting, value)]);
        builder.AddAccess();
        using var host = builder.Build();

        var refused = Assert.Throws<OptionsValidationException>(() => host.Services.GetRequiredService<IOptions<AuthOptions>>().Value);

        Assert.Contains(setting.Split(':')[^1], refused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Good_nested_auth_defaults_are_accepted()
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Configuration.AddInMemoryCollection([new("Auth:Defaults:RunsPerMinute", "5")]);
        builder.AddAccess();
        using var host = builder.Build();

        Assert.Equal(5, host.Services.GetRequiredService<IOptions<AuthOptions>>().Value.Defaults.RunsPerMinute);
    }

    [Fact]
    public async Task The_session_service_refuses_to_start_with_zero_runs_per_minute_and_says_which_setting()
    {
        var data = Directory.CreateTempSubdirectory("executor-options-");
        try
        {
            var start = new System.Diagnostics.ProcessStartInfo("dotnet", [Path.Combine(AppContext.BaseDirectory, "SessionService.dll")])
            {
                WorkingDirectory = data.FullName,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            };
            start.Environment["Auth__Defaults__RunsPerMinute"] = "0";
            start.Environment["Sessions__DatabasePath"] = Path.Combine(data.FullName, "sessions.db");
            start.Environment["Sessions__HostSecret"] = "options-validation-tests-host-secret"; // required: only the setting under test is wrong
            start.Environment["ASPNETCORE_URLS"] = "http://127.0.0.1:0";
            start.Environment["DOTNET_ENVIRONMENT"] = "Production";
            using var process = System.Diagnostics.Process.Start(start)!;
            var output = process.StandardOutput.ReadToEndAsync();
            var errors = process.StandardError.ReadToEndAsync();
            using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(1));
            try
            {
                await process.WaitForExitAsync(timeout.Token);
            }
            catch (OperationCanceledException)
            {
                process.Kill(entireProcessTree: true);
                Assert.Fail("SessionService started with Auth:Defaults:RunsPerMinute=0");
            }

            var said = await output + await errors;
            Assert.NotEqual(0, process.ExitCode);
            Assert.Contains("RunsPerMinute", said, StringComparison.Ordinal);
        }
        finally
        {
            data.Delete(recursive: true);
        }
    }

    public static TheoryData<Type> OptionsTypes() => new(
        new[] { typeof(AuthOptions), typeof(Executor.Runner.Runs.RunnerOptions), typeof(Executor.Prewarm.Pool.PoolOptions), typeof(Executor.Sandbox.SandboxOptions) }
            .Select(type => type.Assembly).Distinct()
            .Append(typeof(Executor.Gateway.ApiDocs.OpenApiAggregator).Assembly)
            .SelectMany(assembly => assembly.GetTypes())
            .Where(type => type is { IsClass: true, IsAbstract: false } && type.Name.EndsWith("Options", StringComparison.Ordinal)
                && type.GetField("Section", BindingFlags.Public | BindingFlags.Static) is { IsLiteral: true })
            .OrderBy(type => type.FullName, StringComparer.Ordinal));

    [Theory]
    [MemberData(nameof(OptionsTypes))]
    public void Every_nested_settings_object_is_validated_member_by_member(Type options)
    {
        var unchecked_ = options.GetProperties(BindingFlags.Public | BindingFlags.Instance)
            .Where(property => property.CanWrite && IsNestedObject(property.PropertyType)
                && property.GetCustomAttribute<ValidateObjectMembersAttribute>() is null
                && property.GetCustomAttribute<ValidateEnumeratedItemsAttribute>() is null)
            .Select(property => property.Name)
            .ToList();

        Assert.True(unchecked_.Count == 0, $"{options.Name}: nested settings without [ValidateObjectMembers]: {string.Join(", ", unchecked_)}");
    }

    private static bool IsNestedObject(Type type) =>
        type.IsClass && type != typeof(string) && !type.IsArray
        && !(type.IsGenericType && type.GetGenericTypeDefinition() is var definition
            && (definition == typeof(List<>) || definition == typeof(Dictionary<,>)) && type.GetGenericArguments().All(a => a == typeof(string) || a.IsPrimitive));
}
