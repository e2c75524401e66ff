using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Diagnostics;

namespace KernelHarness.Analyzers.Rules;

/// <summary>KH1002: an allocation whose gfp_t allows blocking, in atomic context. Findings come from the shared context engine.</summary>
[DiagnosticAnalyzer(LanguageNames.CSharp)]
public sealed class BlockingGfpInAtomicContextAnalyzer : KernelRuleAnalyzer
{
    private protected override DiagnosticDescriptor Rule => Descriptors.KH1002;
}
