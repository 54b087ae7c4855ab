using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;

namespace Executor.EndToEndTests;

/// <summary>The public API as a client uses it: multipart upload, polling, cleanup.</summary>
public static class ExecutorApi
{
    /// <summary>Generous: a bound on a hang, not a performance expectation.</summary>
    public static readonly TimeSpan ResultDeadline = TimeSpan.FromSeconds(60);

    private static readonly string[] UnfinishedStates = ["queued", "running"];

    public static Task<HttpResponseMessage> UploadAsync(this HttpClient gateway, string script, string fileName = "main.py", string field = "file") =>
        gateway.UploadBytesAsync(Encoding.UTF8.GetBytes(script), fileName, field);

    public static async Task<HttpResponseMessage> UploadBytesAsync(this HttpClient gateway, byte[] content, string fileName, string field = "file")
    {
        using var form = new MultipartFormDataContent();
        var file = new ByteArrayContent(content);
        file.Headers.ContentType = new MediaTypeHeaderValue("text/x-python");
        form.Add(file, field, fileName);
        return await gateway.PostAsync("/execute", form);
    }

    public static async Task<string> SubmitAsync(this HttpClient gateway, string script, params (string Field, string Value)[] fields)
    {
        using var form = new MultipartFormDataContent();
        form.AddFile("main.py", script);
        foreach (var (field, value) in fields)
        {
            form.Add(new StringContent(value), field);
        }
        return await gateway.SubmitFormAsync(form);
    }

    public static async Task<string> SubmitFormAsync(this HttpClient gateway, MultipartFormDataContent form)
    {
        using var response = await gateway.PostAsync("/execute", form);
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"submit answered {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
        var body = await response.Content.ReadFromJsonAsync<JsonElement>();
        return body.GetProperty("session_id").GetString()!;
    }

    /// <summary>A zip archive of text files, as a client builds one.</summary>
    public static byte[] Zip(params (string Name, string Content)[] entries)
    {
        var buffer = new MemoryStream();
        using (var zip = new System.IO.Compression.ZipArchive(buffer, System.IO.Compression.ZipArchiveMode.Create, leaveOpen: true))
        {
            foreach (var (name, content) in entries)
            {
                using var writer = new StreamWriter(zip.CreateEntry(name).Open());
                writer.Write(content);
            }
        }
        return buffer.ToArray();
    }

    public static void AddFile(this MultipartFormDataContent form, string fileName, string content) =>
        form.AddFile(fileName, Encoding.UTF8.GetBytes(content));

    public static void AddFile(this MultipartFormDataContent form, string fileName, byte[] content)
    {
        var file = new ByteArrayContent(content);
        file.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        form.Add(file, "file", fileName);
    }

    /// <summary>Polls GET /result until the session has ended, checking the "still running" shape on the way.</summary>
    public static async Task<JsonElement> WaitForResultAsync(this HttpClient gateway, string sessionId)
    {
        var deadline = DateTime.UtcNow + ResultDeadline;
        while (true)
        {
            using var response = await gateway.GetAsync($"/result/{sessionId}");
            var body = await response.Content.ReadFromJsonAsync<JsonElement>();
            if (response.StatusCode == HttpStatusCode.OK)
            {
                return body;
            }
            Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
            Assert.Equal("still running", body.GetProperty("status").GetString());
            Assert.Contains(body.GetProperty("state").GetString(), UnfinishedStates);
            Assert.True(DateTime.UtcNow < deadline, $"session {sessionId} did not end within {ResultDeadline}");
            await Task.Delay(50);
        }
    }

    public static async Task<JsonElement> RunAsync(this HttpClient gateway, string script, params (string Field, string Value)[] fields) =>
        await gateway.WaitForResultAsync(await gateway.SubmitAsync(script, fields));

    /// <summary>Waits until the runner reports the session running in a container, and returns that container's id.</summary>
    public static async Task<string> WaitForContainerAsync(this HttpClient runner, string sessionId)
    {
        var deadline = DateTime.UtcNow + ResultDeadline;
        while (true)
        {
            using var response = await runner.GetAsync($"/runs/{sessionId}");
            if (response.StatusCode == HttpStatusCode.OK)
            {
                var run = await response.Content.ReadFromJsonAsync<JsonElement>();
                if (run.GetProperty("container_id").GetString() is { } containerId)
                {
                    return containerId;
                }
            }
            Assert.True(DateTime.UtcNow < deadline, $"session {sessionId} never got a container");
            await Task.Delay(50);
        }
    }

    /// <summary>Creates an API key (POST /admin/keys, as an operator): its id and the key itself, shown this once.</summary>
    public static async Task<(string Id, string Key)> CreateKeyAsync(this HttpClient admin, string name, object? quotas = null, string role = "user")
    {
        var request = JsonSerializer.SerializeToNode(quotas ?? new { })!.AsObject();
        request["name"] = name;
        request["role"] = role;
        using var response = await admin.PostAsJsonAsync("/admin/keys", request);
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        var created = await response.Content.ReadFromJsonAsync<JsonElement>();
        return (created.GetProperty("id").GetString()!, created.GetProperty("key").GetString()!);
    }

    /// <summary>Waits until a session's callback (GET /result/{id}/callback) is in the state, and returns its status.</summary>
    public static async Task<JsonElement> CallbackStatusAsync(this HttpClient client, string sessionId, string state)
    {
        JsonElement status = default;
        await WaitUntilAsync(async () =>
        {
            status = await client.GetFromJsonAsync<JsonElement>($"/result/{sessionId}/callback");
            return status.GetProperty("state").GetString() == state;
        }, $"callback of {sessionId} {state}");
        return status;
    }

    public static async Task WaitUntilAsync(Func<Task<bool>> condition, string what, TimeSpan? within = null)
    {
        var deadline = DateTime.UtcNow + (within ?? ResultDeadline);
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < deadline, $"timed out waiting until {what}");
            await Task.Delay(100);
        }
    }
}
