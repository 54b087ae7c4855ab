using System.Text;

namespace Executor.SessionCore.Submissions;

/// <summary>
/// A line of words split as a POSIX shell splits it, without running one: blanks separate words; single quotes keep
/// everything literally; double quotes keep blanks and take a backslash before <c>"</c>, <c>\</c>, <c>$</c> or <c>`</c>;
/// a backslash elsewhere keeps the next character. Nothing is expanded (no variables, globs or substitutions), so
/// <c>-DNAME="a b"</c> is one word and <c>$(reboot)</c> is just text. Compiler options arrive this way from graders
/// (Judge0's compiler_options is such a line).
/// </summary>
public static class ShellWords
{
    /// <summary>The words of <paramref name="line"/>; null when a quote is left open or the line ends in a lone backslash.</summary>
    public static IReadOnlyList<string>? Split(string line)
    {
        var words = new List<string>();
        var word = new StringBuilder();
        var inWord = false;
        for (var i = 0; i < line.Length; i++)
        {
            var c = line[i];
            switch (c)
            {
                case ' ' or '\t' or '\n' or '\r':
                    if (inWord)
                    {
                        words.Add(word.ToString());
                        word.Clear();
                        inWord = false;
                    }
                    continue;
                case '\'':
                    var close = line.IndexOf('\'', i + 1);
                    if (close < 0)
                    {
                        return null;
                    }
                    word.Append(line, i + 1, close - i - 1);
                    i = close;
                    break;
                case '"':
                    for (i++; ; i++)
                    {
                        if (i >= line.Length)
                        {
                            return null;
                        }
                        if (line[i] == '"')
                        {
                            break;
                        }
                        if (line[i] == '\\' && i + 1 < line.Length && line[i + 1] is '"' or '\\' or '$' or '`')
                        {
                            i++;
                        }
                        word.Append(line[i]);
                    }
                    break;
                case '\\':
                    if (++i >= line.Length)
                    {
                        return null;
                    }
                    word.Append(line[i]);
                    break;
                default:
                    word.Append(c);
                    break;
            }
            inWord = true;
        }
        if (inWord)
        {
            words.Add(word.ToString());
        }
        return words;
    }
}
