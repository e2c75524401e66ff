using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Diagnostics;

namespace KernelHarness.Analyzers.Rules;

/// <summary>KH2004: a lock released with a variant that does not match how it was taken. Findings come from the shared context engine.</summary>
[DiagnosticAnalyzer(LanguageNames.CSharp)]
public sealed class LockVariantAnalyzer : KernelRuleAnalyzer
{
    private protected override DiagnosticDescriptor Rule => Descriptors.KH2004;
}
