using System.Net.Http.Json;
using System.Text.Json;
using static Executor.EndToEndTests.Judge0Api;

namespace Executor.EndToEndTests;

/// <summary>
/// The drop-ins for graders, in every language, run for real: Piston's examples through its own npm client
/// (piston-client), Judge0's through its HTTP API (languages, compile errors, compiler options, arguments, and a batch of
/// one source against many inputs prepared once).
/// </summary>
[Collection(LanguagesCollection.Name)]
public sealed class LanguageCompatTests(LanguagesStackFixture stack)
{
    [Fact]
    public async Task The_npm_piston_client_runs_each_language_by_its_names_and_aliases()
    {
        var output = JsonDocument.Parse(await NodeClients.RunAsync("piston", """
            import piston from "piston-client";
            const client = piston({ server: process.argv[2] });
            const runtimes = await client.runtimes();
            const c = await client.execute("c", "#include <stdio.h>\nint main(int argc, char **argv) { char name[32]; scanf(\"%31s\", name); printf(\"hello %s %d\\n\", name, argc); return 0; }", { stdin: "piston" });
            const cpp = await client.execute("c++", "#include <iostream>\nint main() { std::cout << \"C++ \" << __cplusplus << std::endl; }");
            const gcc = await client.execute("gcc", "int main(void) { return 4; }");
            const java = await client.execute({ language: "java", version: "*", files: [{ content: "public class Greeter { public static void main(String[] a) { System.out.println(\"Java \" + a.length); } }" }], args: ["x"] });
            const js = await client.execute("js", "process.stdin.on('data', d => console.log(d.toString().trim().toUpperCase()));", { stdin: "node" });
            const bash = await client.execute("sh", "echo \"bash $1\"", { args: ["arg"] });
            const broken = await client.execute("c", "int main(void) { return nope; }");
            console.log(JSON.stringify({ runtimes, c, cpp, gcc, java, js, bash, broken }));
            """, stack.Gateway.BaseAddress!.ToString())).RootElement;

        var runtimes = output.GetProperty("runtimes").EnumerateArray().ToList();
        foreach (var (language, alias) in new[] { ("c", "gcc"), ("c++", "cpp"), ("java", null), ("javascript", "node-js"), ("bash", "sh") })
        {
            var runtime = runtimes.Single(r => r.GetProperty("language").GetString() == language);
            Assert.Matches(@"^\d+\.\d+", runtime.GetProperty("version").GetString());
            if (alias is not null)
            {
                Assert.Contains(alias, runtime.GetProperty("aliases").EnumerateArray().Select(a => a.GetString()));
            }
        }
        var c = output.GetProperty("c");
        Assert.Equal("hello piston 4\n", c.GetProperty("run").GetProperty("stdout").GetString()); // the client's default args: 1 2 3
        Assert.Equal(0, c.GetProperty("compile").GetProperty("code").GetInt32());
        Assert.StartsWith("C++ 2017", output.GetProperty("cpp").GetProperty("run").GetProperty("stdout").GetString());
        Assert.Equal(4, output.GetProperty("gcc").GetProperty("run").GetProperty("code").GetInt32());
        Assert.Equal("Java 1\n", output.GetProperty("java").GetProperty("run").GetProperty("stdout").GetString());
        Assert.Equal("NODE\n", output.GetProperty("js").GetProperty("run").GetProperty("stdout").GetString());
        Assert.Equal("bash arg\n", output.GetProperty("bash").GetProperty("run").GetProperty("stdout").GetString());
        var broken = output.GetProperty("broken");
        Assert.NotEqual(0, broken.GetProperty("compile").GetProperty("code").GetInt32());
        Assert.Contains("nope", broken.GetProperty("compile").GetProperty("output").GetString(), StringComparison.Ordinal);
        Assert.False(broken.TryGetProperty("run", out var run) && run.ValueKind == JsonValueKind.Object, "a program that did not compile has no run stage");
    }

    [Fact]
    public async Task Judge0_lists_the_languages_and_judges_each_of_them()
    {
        var languages = await stack.Gateway.GetFromJsonAsync<JsonElement>("/languages");
        var ids = languages.EnumerateArray().Select(l => l.GetProperty("id").GetInt32()).ToList();
        Assert.Superset(new HashSet<int> { 46, 50, 54, 62, 63, 71 }, ids.ToHashSet());

        var c = await stack.Gateway.SubmitJudge0Async(new
        {
            source_code = "#include <stdio.h>\nint main(int argc, char **argv) { char s[16]; scanf(\"%15s\", s); printf(\"hello, %s %s %d\\n\", s, argv[1], X); }",
            language_id = 50, stdin = "Judge0", expected_output = "hello, Judge0 first 7", compiler_options = "-DX=7 -Wall", command_line_arguments = "first",
        });
        var cpp = await stack.Gateway.SubmitJudge0Async(new { source_code = "#include <iostream>\nint main() { int a, b; std::cin >> a >> b; std::cout << a + b; }", language_id = 54, stdin = "2 3", expected_output = "5" });
        var java = await stack.Gateway.SubmitJudge0Async(new { source_code = "public class Main { public static void main(String[] a) { System.out.println(\"hello, Java\"); } }", language_id = 62, expected_output = "hello, Java" });
        var js = await stack.Gateway.SubmitJudge0Async(new { source_code = "console.log('hello, ' + require('fs').readFileSync(0, 'utf8').trim())", language_id = 63, stdin = "node", expected_output = "hello, node" });
        var bash = await stack.Gateway.SubmitJudge0Async(new { source_code = "read name; echo \"hello, $name\"", language_id = 46, stdin = "bash", expected_output = "hello, bash" });
        var broken = await stack.Gateway.SubmitJudge0Async(new { source_code = "int main(void) { return nope; }", language_id = 50 });
        var crash = await stack.Gateway.SubmitJudge0Async(new { source_code = "int main(void) { int *p = 0; return *p; }", language_id = 50 });

        foreach (var (name, accepted) in new[] { ("c", c), ("cpp", cpp), ("java", java), ("js", js), ("bash", bash) })
        {
            Assert.True(Status(accepted) == 3, $"{name}: {accepted}");
        }
        Assert.Equal(6, Status(broken));
        Assert.Contains("nope", broken.GetProperty("compile_output").GetString(), StringComparison.Ordinal);
        Assert.Equal(7, Status(crash)); // Runtime Error (SIGSEGV)
    }

    [Fact]
    public async Task A_Judge0_batch_of_one_source_against_many_inputs_is_prepared_once_and_each_token_answers_its_own_case()
    {
        const string source = "#include <stdio.h>\nint main(void) { long a, b; if (scanf(\"%ld %ld\", &a, &b) != 2) return 1; printf(\"%ld\\n\", a * b); }";
        var submissions = Enumerable.Range(1, 6).Select(i => new
        {
            source_code = source, language_id = 50, stdin = i == 6 ? "not numbers" : $"{i} {i + 1}", expected_output = i == 5 ? "0" : $"{i * (i + 1)}",
        }).ToArray();
        using var created = await stack.Gateway.PostAsJsonAsync("/submissions/batch?base64_encoded=false", new { submissions });
        created.EnsureSuccessStatusCode();
        var tokens = (await created.Content.ReadFromJsonAsync<JsonElement>()).EnumerateArray().Select(t => t.GetProperty("token").GetString()!).ToList();
        Assert.Equal(6, tokens.Distinct().Count());

        JsonElement batch = default;
        await ExecutorApi.WaitUntilAsync(async () =>
        {
            batch = await stack.Gateway.GetFromJsonAsync<JsonElement>($"/submissions/batch?tokens={string.Join(',', tokens)}&base64_encoded=false&fields=token,stdout,status_id");
            return batch.GetProperty("submissions").EnumerateArray().All(s => s.GetProperty("status_id").GetInt32() > 2);
        }, "the batch ends");

        var ended = batch.GetProperty("submissions").EnumerateArray().ToList();
        Assert.Equal([3, 3, 3, 3, 4, 11], ended.Select(s => s.GetProperty("status_id").GetInt32()));
        Assert.Equal("6\n", ended[1].GetProperty("stdout").GetString());
        var one = await stack.Gateway.GetFromJsonAsync<JsonElement>($"/submissions/{tokens[2]}?base64_encoded=false");
        Assert.Equal(("12\n", 3), (one.GetProperty("stdout").GetString(), Status(one)));
    }
}
