using KernelHarness.Analyzers.Provenance;

namespace KernelHarness.Analyzers.Rules;

/// <summary>
/// How KH3001–KH3004 report: the allocation-provenance findings of a file's methods (computed once per
/// compilation and shared by the four rules), as the engine rules of part 1 do with the context engine's.
/// </summary>
public abstract class ProvenanceRuleAnalyzer : KernelRuleAnalyzer
{
    private protected override void AnalyzeFile(FileContext file)
        => ReportOwn(file, ProvenanceModel.Get(file.Model).FindingsIn(file.Tree));
}
