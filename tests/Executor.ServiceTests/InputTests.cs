using System.IO.Compression;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;

namespace Executor.ServiceTests;

/// <summary>The rules of a submission's files and limits, refused before anything is stored or run.</summary>
public sealed class InputTests(SessionServiceFixture service) : IClassFixture<SessionServiceFixture>
{
    private async Task<JsonElement> ProblemOfAsync(MultipartFormDataContent form, HttpStatusCode status)
    {
        using var response = await service.Client.PostAsync("/execute", form);
        Assert.Equal(status, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        return await response.Content.ReadFromJsonAsync<JsonElement>();
    }

    [Theory]
    [InlineData("../escape.py")]
    [InlineData("/etc/evil.py")]
    [InlineData("dir/../../escape.py")]
    [InlineData("dir\\evil.py")]
    public async Task A_file_name_that_leaves_the_work_directory_is_a_400(string name)
    {
        using var form = new MultipartFormDataContent();
        form.AddFile("main.py", "print(1)\n");
        form.AddFile(name, "print(2)\n");

        var problem = await ProblemOfAsync(form, HttpStatusCode.BadRequest);

        Assert.Equal("urn:executor:problem:bad-file-name", problem.GetProperty("type").GetString());
    }

    [Fact]
    public async Task A_zip_entry_that_leaves_the_work_directory_is_a_400()
    {
        using var form = new MultipartFormDataContent();
        form.AddFile("evil.zip", ExecutorApi.Zip(("main.py", "print(1)\n"), ("../../etc/cron.d/evil", "* * * * * root id\n")));

        var problem = await ProblemOfAsync(form, HttpStatusCode.BadRequest);

        Assert.Equal("urn:executor:problem:bad-file-name", problem.GetProperty("type").GetString());
    }

    [Fact]
    public async Task A_symbolic_link_in_a_zip_is_a_400()
    {
        var buffer = new MemoryStream();
        using (var zip = new ZipArchive(buffer, ZipArchiveMode.Create, leaveOpen: true))
        {
            using (var writer = new StreamWriter(zip.CreateEntry("main.py").Open()))
            {
                writer.Write("print(open('secret').read())\n");
            }
            var link = zip.CreateEntry("secret");
            link.ExternalAttributes = unchecked((int)0xA1FF0000); // S_IFLNK | 0777, as zip -y stores it
            using var target = new StreamWriter(link.Open());
            target.Write("/etc/shadow");
        }
        using var form = new MultipartFormDataContent();
        form.AddFile("links.zip", buffer.ToArray());

        var problem = await ProblemOfAsync(form, HttpStatusCode.BadRequest);

        Assert.Equal("urn:executor:problem:bad-file-name", problem.GetProperty("type").GetString());
    }

    [Fact]
    public async Task Several_scripts_without_main_py_need_an_entrypoint()
    {
        using var form = new MultipartFormDataContent();
        form.AddFile("a.py", "print('a')\n");
        form.AddFile("b.py", "print('b')\n");

        var problem = await ProblemOfAsync(form, HttpStatusCode.BadRequest);

        Assert.Equal("urn:executor:problem:ambiguous-entrypoint", problem.GetProperty("type").GetString());
    }

    [Fact]
    public async Task Files_over_the_total_limit_are_a_413()
    {
        using var form = new MultipartFormDataContent();
        form.AddFile("main.py", "print(1)\n");
        for (var i = 0; i < 5; i++)
        {
            form.AddFile($"data{i}.bin", new byte[1000 * 1024]);
        }

        var problem = await ProblemOfAsync(form, HttpStatusCode.RequestEntityTooLarge);

        Assert.Equal("urn:executor:problem:upload-too-large", problem.GetProperty("type").GetString());
    }

    [Theory]
    [InlineData("timeout_seconds", "61")]
    [InlineData("timeout_seconds", "0")]
    [InlineData("timeout_seconds", "ten")]
    [InlineData("memory_mb", "100000")]
    public async Task A_limit_outside_the_allowed_range_is_a_400(string field, string value)
    {
        using var form = new MultipartFormDataContent();
        form.AddFile("main.py", "print(1)\n");
        form.Add(new StringContent(value), field);

        var problem = await ProblemOfAsync(form, HttpStatusCode.BadRequest);

        Assert.Equal("urn:executor:problem:bad-limit", problem.GetProperty("type").GetString());
        Assert.Contains(field, problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
    }
}
