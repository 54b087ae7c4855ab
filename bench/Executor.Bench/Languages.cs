using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;

namespace Executor.Bench;

/// <summary>
/// The languages graders' students write, side by side with the host: a C hello world warm through Executor (compile
/// and run, in a warm container whose compiler is ready) against compiling and running it on the host and against
/// docker run of the same image; JavaScript and Java warm against the host's node and java; and a C++ program judged
/// against 20 test cases in one submission against 20 submissions of one case each.
/// </summary>
public static class Languages
{
    public const string Image = "executor-languages:1";

    public const string CHello = "#include <stdio.h>\nint main(void) { puts(\"Hello from C\"); return 0; }\n";
    public const string JsHello = "console.log('Hello from JavaScript');\n";
    public const string JavaHello = "public class Main { public static void main(String[] a) { System.out.println(\"Hello from Java\"); } }\n";

    /// <summary>Reads two numbers, prints their sum: what a grader's first exercise looks like.</summary>
    public const string CppSum = "#include <iostream>\nint main() { long long a, b; std::cin >> a >> b; std::cout << a + b << std::endl; }\n";

    /// <summary>The settings of the stack the languages are measured on: one warm container of each language.</summary>
    public static readonly IReadOnlyList<string> Settings = ["--Executor:LanguagePoolSize=1", "--Executor:DataPoolSize=0"];

    public static async Task<Stats> ExecutorAsync(Stack stack, string runtime, string file, string code, int runs, string name)
    {
        var samples = new List<double>();
        var cold = 0;
        for (var i = 0; i < runs + 1; i++)
        {
            await stack.WaitForPoolAsync(runtime);
            var (ms, result) = await SubmitAsync(stack.Gateway, runtime, file, code, null);
            cold += result.GetProperty("warm_start").GetBoolean() ? 0 : 1;
            if (i >= 1)
            {
                samples.Add(ms);
            }
        }
        if (cold > 0)
        {
            Console.WriteLine($"  note: {cold} of {runs + 1} {runtime} runs found no warm container");
        }
        return new Stats(name, samples);
    }

    /// <summary>20 cases of a + b: one submission with all of them, then 20 submissions of one case each (one after another, and all at once).</summary>
    public static async Task<(Stats Graded, Stats Sequential, Stats Concurrent)> CasesAsync(Stack stack, int rounds)
    {
        var cases = Enumerable.Range(1, 20).Select(i => new { name = $"case {i}", stdin = $"{i} {i * 1000}\n", expected_output = $"{i + i * 1000}\n" }).ToList();
        var graded = new List<double>();
        var sequential = new List<double>();
        var concurrent = new List<double>();
        for (var round = 0; round < rounds + 1; round++)
        {
            await stack.WaitForPoolAsync("cpp-gcc-12");
            var (ms, result) = await SubmitAsync(stack.Gateway, "cpp-gcc-12", "main.cpp", CppSum, JsonSerializer.Serialize(cases));
            var summary = result.GetProperty("test_summary");
            if (summary.GetProperty("passed").GetInt32() != 20)
            {
                throw new InvalidOperationException($"the graded submission did not pass: {summary}");
            }
            var sw = Stopwatch.StartNew();
            foreach (var c in cases)
            {
                await stack.WaitForPoolAsync("cpp-gcc-12");
                await SubmitAsync(stack.Gateway, "cpp-gcc-12", "main.cpp", CppSum, JsonSerializer.Serialize(new[] { c }));
            }
            var one = sw.Elapsed.TotalMilliseconds;
            await stack.WaitForPoolAsync("cpp-gcc-12");
            sw.Restart();
            await Task.WhenAll(cases.Select(c => SubmitAsync(stack.Gateway, "cpp-gcc-12", "main.cpp", CppSum, JsonSerializer.Serialize(new[] { c }))));
            var all = sw.Elapsed.TotalMilliseconds;
            if (round >= 1)
            {
                graded.Add(ms);
                sequential.Add(one);
                concurrent.Add(all);
            }
        }
        return (new Stats("C++ a+b, 20 cases in one submission", graded),
            new Stats("C++ a+b, 20 submissions of one case, one after another", sequential),
            new Stats("C++ a+b, 20 submissions of one case, all at once", concurrent));
    }

    public static async Task<Stats> HostAsync(string name, string shell, int runs)
    {
        var directory = Directory.CreateTempSubdirectory("executor-bench-");
        try
        {
            await File.WriteAllTextAsync(Path.Combine(directory.FullName, "main.c"), CHello);
            await File.WriteAllTextAsync(Path.Combine(directory.FullName, "main.js"), JsHello);
            await File.WriteAllTextAsync(Path.Combine(directory.FullName, "Main.java"), JavaHello);
            return new Stats(name, await Processes.TimeAsync("/bin/sh", ["-c", shell], directory.FullName, runs, warmUp: 2));
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }

    public static async Task<Stats> DockerRunCAsync(int runs)
    {
        string[] arguments =
        [
            "run", "--rm", "--network", "none", "--memory", "128m", "--memory-swap", "128m", "--cpus", "0.5", "--pids-limit", "64",
            "--read-only", "--tmpfs", "/tmp:rw,nosuid,nodev,size=16m", "--tmpfs", "/sandbox:rw,exec,nosuid,nodev,size=16m,uid=65534,gid=65534",
            "--cap-drop", "ALL", "--security-opt", "no-new-privileges", "--user", "65534:65534", "--log-driver", "none", "-w", "/sandbox",
            Image, "sh", "-c", $"printf '%b' '{CHello.Replace("\n", "\\n", StringComparison.Ordinal)}' > main.c && gcc -O2 -pipe -o main main.c && ./main",
        ];
        return new Stats("docker run --rm, same image and limits: gcc, then run", await Processes.TimeAsync("/usr/bin/docker", arguments, null, runs, warmUp: 1));
    }

    private static async Task<(double Ms, JsonElement Result)> SubmitAsync(HttpClient gateway, string runtime, string file, string code, string? cases)
    {
        using var form = new MultipartFormDataContent();
        var content = new ByteArrayContent(Encoding.UTF8.GetBytes(code));
        content.Headers.ContentType = new MediaTypeHeaderValue("text/plain");
        form.Add(content, "file", file);
        form.Add(new StringContent(runtime), "runtime");
        if (cases is not null)
        {
            form.Add(new StringContent(cases), "test_cases");
        }
        var sw = Stopwatch.StartNew();
        using var response = await gateway.PostAsync("/execute?wait=true&wait_seconds=60", form);
        var result = await response.Content.ReadFromJsonAsync<JsonElement>();
        var ms = sw.Elapsed.TotalMilliseconds;
        if (response.StatusCode != HttpStatusCode.OK || result.GetProperty("status").GetString() != "completed")
        {
            throw new InvalidOperationException($"the {runtime} program did not complete: {(int)response.StatusCode} {result}");
        }
        return (ms, result);
    }

    public static void Print(string group, Stats[] rows)
    {
        var c = CultureInfo.InvariantCulture;
        string Ms(double v) => v.ToString(v < 100 ? "0.0" : "0", c);
        Console.WriteLine();
        Console.WriteLine($"| {group} | median ms | p90 ms | min ms | runs | / first row |");
        Console.WriteLine("|---|---:|---:|---:|---:|---:|");
        foreach (var s in rows)
        {
            Console.WriteLine($"| {s.Name} | {Ms(s.Median)} | {Ms(s.P90)} | {Ms(s.Min)} | {s.Count} | {(s.Median / rows[0].Median).ToString("0.00", c)} |");
        }
    }
}
