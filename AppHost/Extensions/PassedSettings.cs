namespace Executor.AppHost;

/// <summary>The services an AppHost setting is passed to.</summary>
[Flags]
internal enum PassedTo
{
    Session = 1,
    Runner = 2,
    Prewarm = 4,

    /// <summary>Both services of a runner host, which must agree so that warm and cold sandboxes are the same.</summary>
    RunnerHost = Runner | Prewarm,
}

/// <summary>One AppHost setting (Executor:<paramref name="Setting"/>) and the service variable it becomes.</summary>
/// <param name="IsList">A comma-separated value, passed as the list VARIABLE__0, VARIABLE__1 ...</param>
internal sealed record PassedSetting(string Setting, string Variable, PassedTo Services, bool IsList = false);

/// <summary>
/// The AppHost's settings that are a service's setting under another name. Each is passed on only when given: the
/// services' own defaults apply otherwise, and so do the service settings of the environment the AppHost was started in
/// (./run.sh passes its environment on: Sandbox__MemoryMb=256 ./run.sh reaches runner and prewarm as it is).
/// </summary>
internal static class PassedSettings
{
    public static readonly IReadOnlyList<PassedSetting> All =
    [
        new("QueueCapacity", "Sessions__QueueCapacity", PassedTo.Session),
        new("StdinAttachGraceSeconds", "Sessions__StdinAttachGraceSeconds", PassedTo.Session),
        new("RevokedHosts", "Sessions__RevokedHosts", PassedTo.Session, IsList: true),
        // Who may run code: EXECUTOR_OPERATOR_KEY from ./run.sh's environment reaches the service as it is.
        new("OperatorKey", "EXECUTOR_OPERATOR_KEY", PassedTo.Session),
        new("AuthMode", "Auth__Mode", PassedTo.Session),
        new("AuthRateWindowSeconds", "Auth__RateWindowSeconds", PassedTo.Session),
        new("AuthFailuresPerMinute", "Auth__FailuresPerMinute", PassedTo.Session),
        // Callbacks: signed with EXECUTOR_CALLBACK_SECRET; receivers on non-public addresses only when allowed.
        new("CallbackSecret", "EXECUTOR_CALLBACK_SECRET", PassedTo.Session),
        new("CallbackAllowedHosts", "Callbacks__AllowedHosts", PassedTo.Session, IsList: true),

        new("RuntimeImage", "Sandbox__Image", PassedTo.RunnerHost),
        new("DataRuntimeImage", "Runtimes__python-3.11-data__Image", PassedTo.RunnerHost),
        new("DataPoolSize", "Runtimes__python-3.11-data__PoolSize", PassedTo.RunnerHost),
        // The languages graders' students write (C, C++, Java, JavaScript): their image, and the warm containers of each.
        new("LanguagesImage", "Sandbox__LanguagesImage", PassedTo.RunnerHost),
        new("LanguagePoolSize", "Sandbox__LanguagePoolSize", PassedTo.RunnerHost),
        new("CompileTimeoutSeconds", "Sandbox__CompileTimeoutSeconds", PassedTo.RunnerHost),
        new("MaxTestCases", "Sessions__MaxTestCases", PassedTo.Session),
        new("MaxGradingSeconds", "Sessions__MaxGradingSeconds", PassedTo.Session),
        new("Deployment", "Sandbox__Deployment", PassedTo.RunnerHost),
        new("Runtime", "Sandbox__Runtime", PassedTo.RunnerHost),
        new("ReapIntervalSeconds", "Sandbox__ReapIntervalSeconds", PassedTo.RunnerHost),

        // Egress: what keys may ask for (SessionService grants it), what each host's proxy may connect to and adds.
        new("EgressAllowedHosts", "Egress__AllowedHosts", PassedTo.Session, IsList: true),
        new("EgressMaxBytes", "Egress__MaxBytes", PassedTo.Session),
        new("EgressMaxConnections", "Egress__MaxConnections", PassedTo.Session),
        new("EgressAllowedPrivateAddresses", "Egress__AllowedPrivateAddresses", PassedTo.Runner, IsList: true),
        new("EgressUpstreamCaFile", "Egress__UpstreamCaFile", PassedTo.Runner),

        new("PoolSize", "Pool__TargetSize", PassedTo.Prewarm),
        new("UseWarmPool", "Runner__UseWarmPool", PassedTo.Runner),
        new("MaxConcurrentRuns", "Runner__MaxConcurrentRuns", PassedTo.Runner),
    ];

    /// <summary>Sets the service's variables from the AppHost settings of <see cref="All"/> passed to it, when given.</summary>
    public static IResourceBuilder<ProjectResource> WithPassedSettings(this IResourceBuilder<ProjectResource> service, PassedTo passedTo) =>
        service.WithEnvironment(context =>
        {
            var configuration = service.ApplicationBuilder.Configuration;
            foreach (var passed in All.Where(passed => (passed.Services & passedTo) != 0))
            {
                if (configuration[$"Executor:{passed.Setting}"] is not { Length: > 0 } value)
                {
                    continue;
                }
                if (!passed.IsList)
                {
                    context.EnvironmentVariables[passed.Variable] = value;
                    continue;
                }
                var items = value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
                for (var i = 0; i < items.Length; i++)
                {
                    context.EnvironmentVariables[$"{passed.Variable}__{i}"] = items[i];
                }
            }
        });
}
