using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Executor.Session.Compat.E2b;
using Executor.SessionCore.Access;

namespace Executor.UnitTests;

public class E2bFormatTests
{
    [Theory]
    [InlineData("/home/user/a.txt", "a.txt")]
    [InlineData("/home/user", "")]
    [InlineData("/home/user/", "")]
    [InlineData("/sandbox/d/e.txt", "d/e.txt")]
    [InlineData("a.txt", "a.txt")]
    [InlineData("./d//e.txt", "d/e.txt")]
    [InlineData("d/../e.txt", "e.txt")]
    [InlineData("", "")]
    [InlineData(null, "")]
    public void E2b_paths_under_home_or_relative_map_to_sandbox_paths(string? path, string expected) =>
        Assert.Equal(expected, E2bFormat.ToSandboxPath(path));

    [Theory]
    [InlineData("/etc/passwd")]
    [InlineData("/home/username/a")]
    [InlineData("/home/user/../../etc/passwd")]
    [InlineData("../a")]
    [InlineData("/sandboxes/a")]
    [InlineData("a\\b")]
    public void Paths_outside_the_sandbox_map_to_nothing(string path) => Assert.Null(E2bFormat.ToSandboxPath(path));

    [Fact]
    public void Sandbox_paths_read_back_under_home()
    {
        Assert.Equal("/home/user", E2bFormat.ToE2bPath(""));
        Assert.Equal("/home/user/d/e.txt", E2bFormat.ToE2bPath("d/e.txt"));
    }

    [Theory]
    [InlineData("", "a", 1)]
    [InlineData("", "a/b", 2)]
    [InlineData("d", "d/a", 1)]
    [InlineData("d", "d/a/b", 2)]
    [InlineData("d", "d", null)]
    [InlineData("d", "dd/a", null)]
    public void Depth_counts_levels_below_a_directory(string directory, string path, int? depth) =>
        Assert.Equal(depth, E2bFormat.DepthUnder(directory, path));

    [Fact]
    public void Outputs_become_e2b_results_main_for_execute_result_only_with_mime_fields_and_the_error_with_its_traceback()
    {
        var outputs = JsonDocument.Parse("""
            [
              {"output_type": "stream", "name": "stdout", "text": "hi\n"},
              {"output_type": "display_data", "data": {"image/png": "iVBOR", "text/plain": "<Figure>"}, "metadata": {}},
              {"output_type": "execute_result", "execution_count": 3, "data": {"text/html": "<table/>", "text/plain": "'df'", "application/vnd.custom": "x"}, "metadata": {}},
              {"output_type": "error", "ename": "ValueError", "evalue": "bad", "traceback": ["Traceback (most recent call last):", "ValueError: bad"]}
            ]
            """).RootElement.EnumerateArray().ToList();

        var lines = E2bFormat.ResultLines(outputs).Select(l => l.ToJsonString()).ToList();

        Assert.Equal(
        [
            """{"type":"result","is_main_result":false,"png":"iVBOR","text":"\u003CFigure\u003E"}""",
            """{"type":"result","is_main_result":true,"html":"\u003Ctable/\u003E","text":"df","extra":{"application/vnd.custom":"x"}}""",
            """{"type":"error","name":"ValueError","value":"bad","traceback":"Traceback (most recent call last):\nValueError: bad"}""",
        ], lines);
    }

    [Fact]
    public void A_connect_envelope_round_trips_and_ends_a_stream_with_its_flag()
    {
        var frame = E2bFormat.Envelope(new JsonObject { ["event"] = new JsonObject { ["start"] = new JsonObject { ["pid"] = 7 } } });
        Assert.Equal(0, frame[0]);
        Assert.Equal(frame.Length - 5, (frame[1] << 24) | (frame[2] << 16) | (frame[3] << 8) | frame[4]);
        Assert.Equal(7, E2bFormat.FirstMessage(frame)!["event"]!["start"]!["pid"]!.GetValue<int>());

        var end = E2bFormat.Envelope(new JsonObject(), E2bFormat.EndStreamFlag);
        Assert.Equal([0x02, 0, 0, 0, 2, (byte)'{', (byte)'}'], end);
    }

    [Fact]
    public void A_request_that_is_not_one_uncompressed_envelope_is_no_message()
    {
        Assert.Null(E2bFormat.FirstMessage([]));
        Assert.Null(E2bFormat.FirstMessage(Encoding.UTF8.GetBytes("{\"process\":{}}")));
        var compressed = E2bFormat.Envelope(new JsonObject(), 0x01);
        Assert.Null(E2bFormat.FirstMessage(compressed));
        var truncated = E2bFormat.Envelope(new JsonObject { ["a"] = 1 })[..^1];
        Assert.Null(E2bFormat.FirstMessage(truncated));
    }

    [Theory]
    [InlineData("not_found", 404)]
    [InlineData("already_exists", 409)]
    [InlineData("permission_denied", 403)]
    [InlineData("unimplemented", 501)]
    [InlineData("invalid_argument", 400)]
    public void Connect_codes_have_their_http_statuses(string code, int status) => Assert.Equal(status, E2bFormat.HttpStatusOf(code));

    [Fact]
    public void The_metadata_filter_reads_e2b_s_doubly_encoded_pairs() =>
        Assert.Equal(new Dictionary<string, string> { ["suite"] = "e2b tests", ["k=1"] = "v&2" },
            E2bSandboxesApi.MetadataFilter("suite=e2b%2520tests&k%253D1=v%25262"));

    [Fact]
    public void Generated_code_carries_its_arguments_as_base64_never_as_code()
    {
        var hostile = "'); import os; os.system('x') #\n\"\"\"";
        var code = E2bSandbox.Code(new JsonObject { ["cmd"] = hostile }, "a");
        Assert.DoesNotContain("os.system", code, StringComparison.Ordinal);
        var encoded = code.Split('\'')[1];
        Assert.Equal(hostile, JsonNode.Parse(Convert.FromBase64String(encoded))!["cmd"]!.GetValue<string>());
    }

    [Fact]
    public void An_executor_key_in_e2b_form_reads_back_as_itself()
    {
        var (_, key, _) = ApiKeys.New();
        Assert.Matches("^e2b_[0-9a-f]+$", ApiKeys.ToE2bForm(key));
        Assert.Equal(key, ApiKeys.FromE2bForm(ApiKeys.ToE2bForm(key)));
    }
}
