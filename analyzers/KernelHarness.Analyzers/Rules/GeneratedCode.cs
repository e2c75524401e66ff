using System.Threading;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace KernelHarness.Analyzers.Rules;

/// <summary>
/// Is a finding in code marked [GeneratedCode] inside an ordinary file? The KH analyzers leave generated code
/// alone: the driver makes no callback for files named or marked as generated
/// (<see cref="KernelRuleAnalyzer"/>'s <c>GeneratedCodeAnalysisFlags.ReportDiagnostics</c>). It
/// is told not to sift the findings itself, because its way walks every token of every file with a finding,
/// which cost more than a rule's whole analysis of the file. A rule reports only in the file it analyses, so
/// what is left to sift is a [GeneratedCode] type or member in an ordinary file: decided here, for the few
/// findings there are, as the driver decides it (the file must name the attribute; the innermost declaration
/// around the finding, or a type containing it, carries it).
/// </summary>
internal static class GeneratedCode
{
    private const string AttributeName = "System.CodeDom.Compiler.GeneratedCodeAttribute";

    public static bool Contains(SemanticModel model, Location location, CancellationToken cancellationToken)
    {
        var tree = location.SourceTree;
        if (tree is null || tree.GetText(cancellationToken).ToString().IndexOf("GeneratedCode", System.StringComparison.Ordinal) < 0)
            return false;
        var attribute = model.Compilation.GetTypeByMetadataName(AttributeName);
        if (attribute is null)
            return false;
        for (var node = tree.GetRoot(cancellationToken).FindNode(location.SourceSpan, getInnermostNodeForTie: true); node is not null; node = node.Parent)
        {
            var declared = node switch
            {
                BaseFieldDeclarationSyntax field => field.Declaration.Variables.Count > 0 ? model.GetDeclaredSymbol(field.Declaration.Variables[0], cancellationToken) : null,
                MemberDeclarationSyntax member => model.GetDeclaredSymbol(member, cancellationToken),
                _ => null,
            };
            if (declared is not null)
                return IsMarked(declared, attribute);
        }
        return false;
    }

    /// <summary>The symbol or a type containing it carries the attribute (on any of its parts).</summary>
    private static bool IsMarked(ISymbol symbol, INamedTypeSymbol attribute)
    {
        for (ISymbol? s = symbol; s is not null and not INamespaceSymbol; s = s.ContainingSymbol)
            foreach (var a in s.GetAttributes())
                if (SymbolEqualityComparer.Default.Equals(a.AttributeClass, attribute))
                    return true;
        return false;
    }
}
