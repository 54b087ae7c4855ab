using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;

namespace Executor.EndToEndTests;

/// <summary>Judge0 CE's API as its clients call it: submissions, their encodings, their verdicts.</summary>
public static class Judge0Api
{
    /// <summary>POST /submissions (waiting for the verdict, in plain text, unless the query says otherwise): 201 and the submission.</summary>
    public static async Task<JsonElement> SubmitJudge0Async(this HttpClient client, object submission, string query = "base64_encoded=false&wait=true")
    {
        using var response = await client.PostAsJsonAsync($"/submissions?{query}", submission);
        Assert.True(response.StatusCode == HttpStatusCode.Created, $"{(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
        return await response.Content.ReadFromJsonAsync<JsonElement>();
    }

    /// <summary>GET /submissions/batch of <paramref name="tokens"/> (in plain text) once every one has ended, in their order.</summary>
    public static async Task<JsonElement[]> EndedBatchAsync(this HttpClient client, IEnumerable<string> tokens, string fields)
    {
        JsonElement[] submissions = [];
        await ExecutorApi.WaitUntilAsync(async () =>
        {
            var batch = await client.GetFromJsonAsync<JsonElement>($"/submissions/batch?tokens={string.Join(',', tokens)}&base64_encoded=false&fields={fields}");
            submissions = [.. batch.GetProperty("submissions").EnumerateArray()];
            return submissions.All(s => Status(s) > 2);
        }, "every submission of the batch ended");
        return submissions;
    }

    /// <summary>The verdict's id (3 Accepted, 4 Wrong Answer, 5 Time Limit Exceeded, ...).</summary>
    public static int Status(JsonElement submission) => submission.GetProperty("status").GetProperty("id").GetInt32();

    public static string B64(string text) => Convert.ToBase64String(Encoding.UTF8.GetBytes(text));

    public static string Unb64(JsonElement value) => Encoding.UTF8.GetString(Convert.FromBase64String(value.GetString()!));

    /// <summary>additional_files: a base64 zip of the files.</summary>
    public static string Zip(params (string Name, string Content)[] files) => Convert.ToBase64String(ExecutorApi.Zip(files));
}
