using System.Text;

namespace Gunicorn.Settings.Sources;

/// <summary>Splits a string into words as a POSIX shell would (Python's shlex.split, which gunicorn uses for GUNICORN_CMD_ARGS).</summary>
public static class ShellWords
{
    public static IReadOnlyList<string> Split(string text)
    {
        var words = new List<string>();
        var word = new StringBuilder();
        var inWord = false;
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            switch (c)
            {
                case ' ' or '\t' or '\n':
                    if (inWord)
                    {
                        words.Add(word.ToString());
                        word.Clear();
                        inWord = false;
                    }
                    break;
                case '\'':
                    inWord = true;
                    var close = text.IndexOf('\'', i + 1);
                    if (close < 0)
                    {
                        throw new FormatException("no closing quotation (')");
                    }
                    word.Append(text, i + 1, close - i - 1);
                    i = close;
                    break;
                case '"':
                    inWord = true;
                    for (i++; ; i++)
                    {
                        if (i >= text.Length)
                        {
                            throw new FormatException("no closing quotation (\")");
                        }
                        if (text[i] == '"')
                        {
                            break;
                        }
                        if (text[i] == '\\' && i + 1 < text.Length && text[i + 1] is '"' or '\\' or '$' or '`')
                        {
                            i++;
                        }
                        word.Append(text[i]);
                    }
                    break;
                case '\\':
                    inWord = true;
                    if (++i >= text.Length)
                    {
                        throw new FormatException("no escaped character after '\\'");
                    }
                    word.Append(text[i]);
                    break;
                default:
                    inWord = true;
                    word.Append(c);
                    break;
            }
        }
        if (inWord)
        {
            words.Add(word.ToString());
        }
        return words;
    }
}
