using System.Text;
using Microsoft.CodeAnalysis.CSharp;

namespace KernelHarness.Generators;

/// <summary>Names used in and for generated code.</summary>
internal static class Naming
{
    public const string GeneratorName = "KernelHarness.Generators";

    public const string KernelHarnessAssembly = "KernelHarness";

    public const string KernelSubsystemAttribute = "KernelHarness.Annotations.KernelSubsystemAttribute";

    public const string SubsystemsNamespace = "KernelHarness.Subsystems";

    public const string XunitFactAttribute = "Xunit.FactAttribute";

    public const string ConformanceRunner = "KernelHarness.Conformance.ConformanceRunner";

    /// <summary>The generator's version, as written in <c>[GeneratedCode]</c>.</summary>
    public static readonly string GeneratorVersion =
        typeof(Naming).Assembly.GetName().Version?.ToString() ?? "1.0.0.0";

    public static string GeneratedCodeAttribute =>
        "[global::System.CodeDom.Compiler.GeneratedCode(\"" + GeneratorName + "\", \"" + GeneratorVersion + "\")]";

    /// <summary>The Machine field (and conformance identifier) of an interface: its name without the leading <c>I</c>.</summary>
    public static string FieldNameOf(string interfaceName) =>
        interfaceName.Length > 1 && interfaceName[0] == 'I' && char.IsUpper(interfaceName[1])
            ? interfaceName.Substring(1)
            : interfaceName;

    /// <summary>Prefixes <c>@</c> to a name that is a reserved C# keyword.</summary>
    public static string Escape(string identifier) =>
        SyntaxFacts.GetKeywordKind(identifier) != SyntaxKind.None ? "@" + identifier : identifier;

    /// <summary>A string usable in a hint name: letters, digits, '_', '-' and '.' kept; the rest become '_'.</summary>
    public static string ForHintName(string text)
    {
        var builder = new StringBuilder(text.Length);
        foreach (var c in text)
        {
            builder.Append(char.IsLetterOrDigit(c) || c == '_' || c == '-' || c == '.' ? c : '_');
        }

        return builder.ToString();
    }

    /// <summary>A C# string literal.</summary>
    public static string Literal(string? value) =>
        value is null ? "null" : SymbolDisplay.FormatLiteral(value, quote: true);
}
