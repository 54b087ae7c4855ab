using System.Text;

namespace Executor.ServiceTests;

/// <summary>Results a runner host reports, as a real one fills them in for the usual ends of a run.</summary>
public static partial class Runs
{
    /// <summary>The entry point's source, as the job carries it.</summary>
    public static string Script(RunJob job) => job.Files.FirstOrDefault(f => f.Path == job.Entrypoint) is { } file ? Encoding.UTF8.GetString(file.Content) : "";

    /// <summary>A run that completes printing what the script's plain print('...') lines would print, and nothing else.</summary>
    public static RunResult Echo(RunJob job) =>
        Completed(string.Concat(PrintLine().Matches(Script(job)).Select(m => m.Groups[1].Value + "\n")));

    [System.Text.RegularExpressions.GeneratedRegex(@"^print\('([^']*)'\)$", System.Text.RegularExpressions.RegexOptions.Multiline)]
    private static partial System.Text.RegularExpressions.Regex PrintLine();

    public static RunResult Completed(string stdout, string stderr = "", int exitCode = 0) =>
        Ended(exitCode == 0 ? RunStatus.Completed : RunStatus.Failed, stdout, stderr) with { ExitCode = exitCode };

    /// <summary>Killed by a signal (the script's own, or the kernel's): no exit code.</summary>
    public static RunResult Signalled(int signal, string stdout = "", string stderr = "") =>
        Ended(RunStatus.Failed, stdout, stderr) with { Signal = signal, Detail = $"Killed by signal {signal}" };

    /// <summary>The wall clock ran out: the runner killed it (SIGKILL).</summary>
    public static RunResult TimedOut(int seconds, string stdout = "") =>
        Ended(RunStatus.TimedOut, stdout, "") with { Signal = 9, DurationMs = seconds * 1000, Detail = $"Timed out after {seconds} s" };

    public static RunResult Cancelled() => Ended(RunStatus.Cancelled, "", "") with { Detail = "Cancelled" };

    /// <summary>A sandbox command that did what it was asked (a call, a restart, a file operation).</summary>
    public static RunResult SandboxDone(SandboxOutcome outcome) => Ended(RunStatus.Completed, "", "") with { Sandbox = outcome };

    private static readonly string[] KeyboardInterruptTraceback = ["KeyboardInterrupt"];

    /// <summary>A call interrupted while it ran: KeyboardInterrupt, the namespace kept.</summary>
    public static RunResult Interrupted() => Ended(RunStatus.Cancelled, "", "") with
    {
        Sandbox = new SandboxOutcome(SandboxStatus.Interrupted, 1,
            [Output(new { output_type = "error", ename = "KeyboardInterrupt", evalue = "", traceback = KeyboardInterruptTraceback })]),
    };

    /// <summary>A call whose code is given back as the value of its last expression (text/plain), printing "ran".</summary>
    public static RunResult EchoCall(RunJob job) => Ended(RunStatus.Completed, "ran\n", "") with
    {
        Sandbox = new SandboxOutcome(SandboxStatus.Ok, 1,
        [
            Output(new { output_type = "stream", name = "stdout", text = "ran\n" }),
            Output(new Dictionary<string, object>
            {
                ["output_type"] = "execute_result", ["execution_count"] = 1, ["metadata"] = new Dictionary<string, string>(),
                ["data"] = new Dictionary<string, string> { ["text/plain"] = job.Sandbox!.Code! },
            }),
        ]),
    };

    /// <summary>One Jupyter output, as a host reports it.</summary>
    public static System.Text.Json.JsonElement Output(object output) => System.Text.Json.JsonSerializer.SerializeToElement(output);

    /// <summary>A run that left text files in /sandbox/out.</summary>
    public static RunResult WithFiles(this RunResult result, params (string Path, string Content)[] files) =>
        result.WithFiles([.. files.Select(f => (f.Path, Encoding.UTF8.GetBytes(f.Content)))]);

    /// <summary>A run that left files in /sandbox/out, typed by their extension as the runner host types them.</summary>
    public static RunResult WithFiles(this RunResult result, params (string Path, byte[] Content)[] files) => result with
    {
        Files =
        [
            .. files.Select(f => new RunOutputFile(f.Path, f.Content.Length, Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(f.Content)),
                Path.GetExtension(f.Path) switch { ".png" => "image/png", ".csv" => "text/csv", _ => "application/octet-stream" })
            {
                Content = f.Content,
            }),
        ],
    };

    private static RunResult Ended(string status, string stdout, string stderr)
    {
        var (outBytes, errBytes) = (Encoding.UTF8.GetByteCount(stdout), Encoding.UTF8.GetByteCount(stderr));
        return new RunResult
        {
            Status = status,
            Stdout = stdout,
            Stderr = stderr,
            Logs = stdout + stderr,
            Segments = [.. new[] { outBytes, -errBytes }.Where(length => length != 0)],
            DurationMs = 12,
            CpuTimeMs = 2,
            PeakMemoryBytes = 9 * 1024 * 1024,
            WarmStart = true,
            Isolation = "runc",
        };
    }
}
