using System;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.IO;
using System.Linq;
using System.Reflection;
using System.Reflection.Metadata;
using System.Reflection.Metadata.Ecma335;
using System.Reflection.PortableExecutable;

namespace KernelHarness.Grader.IlCheck;

/// <summary>A use of an API the allowlist refuses, where it is in the student's source.</summary>
public sealed record IlViolation(string Api, string? File, int Line, string Rule, string Kind)
{
    public string Location => File is null ? "(no source line)" : $"{File}:{Line}";
    public override string ToString() => $"{Location}: {Api} is not allowed in a submission ({Rule}; KH9001)";
}

/// <summary>
/// Checks a compiled submission against an allowlist with System.Reflection.Metadata: every type
/// and member it references (in method bodies, signatures, base types, attributes), plus what no
/// allowlist can express (P/Invoke, unmanaged code, pointers). IL offsets map to source lines
/// through the portable PDB's sequence points.
/// </summary>
public static class IlChecker
{
    public static IReadOnlyList<IlViolation> Check(string assemblyPath, Allowlist allowlist, string? sourceRoot = null)
    {
        using var peStream = File.OpenRead(assemblyPath);
        using var pe = new PEReader(peStream);
        var md = pe.GetMetadataReader();
        var pdbPath = Path.ChangeExtension(assemblyPath, ".pdb");
        MetadataReaderProvider? pdbProvider = null;
        try
        {
            if (File.Exists(pdbPath))
                pdbProvider = MetadataReaderProvider.FromPortablePdbStream(File.OpenRead(pdbPath));
        }
        catch (BadImageFormatException)
        {
            pdbProvider = null;
        }
        using (pdbProvider)
        {
            var pdb = pdbProvider?.GetMetadataReader();
            var ctx = new Context(md, pdb, allowlist, sourceRoot);
            ctx.Run(pe);
            return ctx.Violations
                .OrderBy(v => v.File ?? "~", StringComparer.Ordinal).ThenBy(v => v.Line).ThenBy(v => v.Api, StringComparer.Ordinal)
                .ToList();
        }
    }

    private sealed class Context
    {
        private readonly MetadataReader md;
        private readonly MetadataReader? pdb;
        private readonly Allowlist allowlist;
        private readonly string? sourceRoot;
        private readonly HashSet<(string, string?, int)> seen = new();
        private readonly NameProvider names;

        public Context(MetadataReader md, MetadataReader? pdb, Allowlist allowlist, string? sourceRoot)
        {
            this.md = md;
            this.pdb = pdb;
            this.allowlist = allowlist;
            this.sourceRoot = sourceRoot;
            names = new NameProvider(md);
        }

        public List<IlViolation> Violations { get; } = new();

        public void Run(PEReader pe)
        {
            // Types: base types, interfaces, fields' types, attributes, P/Invoke and extern methods.
            foreach (var th in md.TypeDefinitions)
            {
                var type = md.GetTypeDefinition(th);
                var (file, line) = FirstLineOfType(type);
                if (!type.BaseType.IsNil)
                    CheckEntity(type.BaseType, file, line, "base type");
                foreach (var ih in type.GetInterfaceImplementations())
                    CheckEntity(md.GetInterfaceImplementation(ih).Interface, file, line, "interface");
                CheckAttributes(type.GetCustomAttributes(), file, line);
                foreach (var fh in type.GetFields())
                {
                    var field = md.GetFieldDefinition(fh);
                    foreach (var t in field.DecodeSignature(names, null).Types)
                        CheckName(t, file, line, "field type");
                    CheckAttributes(field.GetCustomAttributes(), file, line);
                }
                foreach (var mh in type.GetMethods())
                {
                    var method = md.GetMethodDefinition(mh);
                    var (mfile, mline) = FirstLine(mh);
                    mfile ??= file;
                    if (mline == 0)
                        mline = line;
                    var attrs = method.Attributes;
                    var impl = method.ImplAttributes;
                    if ((attrs & MethodAttributes.PinvokeImpl) != 0)
                        Add("P/Invoke (DllImport) " + md.GetString(method.Name), mfile, mline, "P/Invoke is never allowed", "pinvoke");
                    if ((impl & MethodImplAttributes.InternalCall) != 0 || (impl & MethodImplAttributes.Unmanaged) != 0
                        || ((impl & MethodImplAttributes.CodeTypeMask) != MethodImplAttributes.IL && (impl & MethodImplAttributes.Runtime) == 0))
                        Add("unmanaged/extern method " + md.GetString(method.Name), mfile, mline, "native code is never allowed", "native");
                    CheckAttributes(method.GetCustomAttributes(), mfile, mline);
                    var sig = method.DecodeSignature(names, null);
                    foreach (var t in sig.ReturnType.Types.Concat(sig.ParameterTypes.SelectMany(p => p.Types)))
                        CheckName(t, mfile, mline, "signature");
                    if (method.RelativeVirtualAddress != 0)
                        CheckBody(pe, mh, method);
                }
                foreach (var ph in type.GetProperties())
                    CheckAttributes(md.GetPropertyDefinition(ph).GetCustomAttributes(), file, line);
            }
            CheckAttributes(md.GetAssemblyDefinition().GetCustomAttributes(), null, 0);
            CheckAttributes(md.GetModuleDefinition().GetCustomAttributes(), null, 0);
        }

        private void CheckBody(PEReader pe, MethodDefinitionHandle mh, MethodDefinition method)
        {
            var body = pe.GetMethodBody(method.RelativeVirtualAddress);
            var points = SequencePoints(mh);
            if (!body.LocalSignature.IsNil)
            {
                var locals = md.GetStandaloneSignature(body.LocalSignature).DecodeLocalSignature(names, null);
                var (f, l) = points.Count > 0 ? (points[0].File, points[0].Line) : ((string?)null, 0);
                foreach (var t in locals.SelectMany(x => x.Types))
                    CheckName(t, f, l, "local");
            }
            var il = body.GetILReader();
            while (il.RemainingBytes > 0)
            {
                int offset = il.Offset;
                var op = ReadOpCode(ref il);
                switch (OperandKind(op))
                {
                    case Operand.None:
                        break;
                    case Operand.Token:
                    {
                        int token = il.ReadInt32();
                        var handle = MetadataTokens.EntityHandle(token);
                        var (file, line) = LineAt(points, offset);
                        CheckEntity(handle, file, line, "code");
                        break;
                    }
                    case Operand.String:
                        il.ReadInt32();
                        break;
                    case Operand.Int8:
                        il.ReadByte();
                        break;
                    case Operand.Int16:
                        il.ReadInt16();
                        break;
                    case Operand.Int32:
                        il.ReadInt32();
                        break;
                    case Operand.Int64:
                        il.ReadInt64();
                        break;
                    case Operand.Switch:
                    {
                        int n = il.ReadInt32();
                        for (int i = 0; i < n; i++)
                            il.ReadInt32();
                        break;
                    }
                }
                if (op is ILOpCode.Localloc or ILOpCode.Calli or ILOpCode.Cpblk or ILOpCode.Initblk or ILOpCode.Arglist or ILOpCode.Mkrefany or ILOpCode.Refanyval)
                {
                    var (file, line) = LineAt(points, offset);
                    Add("IL instruction " + op.ToString().ToLowerInvariant() + " (unverifiable/unsafe code)", file, line, "unsafe code is never allowed", "unsafe");
                }
            }
        }

        private void CheckAttributes(CustomAttributeHandleCollection attributes, string? file, int line)
        {
            foreach (var ah in attributes)
                CheckEntity(md.GetCustomAttribute(ah).Constructor, file, line, "attribute");
        }

        private void CheckEntity(EntityHandle handle, string? file, int line, string kind)
        {
            foreach (var name in names.NamesOf(handle))
                CheckName(name, file, line, kind);
        }

        private void CheckName(string name, string? file, int line, string kind)
        {
            if (name.Length == 0 || names.IsOwnType(name))
                return;
            if (name == "*pointer*")
            {
                Add("pointer type (unsafe code)", file, line, "unsafe code is never allowed", "unsafe");
                return;
            }
            var rule = allowlist.Decide(name);
            if (rule is not null && rule.Allow)
                return;
            Add(name, file, line, rule is null ? "no allowlist rule permits it" : $"refused by '{rule}' ({rule.Source}:{rule.Line})", kind);
        }

        private void Add(string api, string? file, int line, string rule, string kind)
        {
            if (seen.Add((api, file, line)))
                Violations.Add(new IlViolation(api, file, line, rule, kind));
        }

        private (string? File, int Line) FirstLineOfType(TypeDefinition type)
        {
            foreach (var mh in type.GetMethods())
            {
                var (f, l) = FirstLine(mh);
                if (f is not null)
                    return (f, l);
            }
            return (null, 0);
        }

        private (string? File, int Line) FirstLine(MethodDefinitionHandle mh)
        {
            var points = SequencePoints(mh);
            return points.Count > 0 ? (points[0].File, points[0].Line) : (null, 0);
        }

        private readonly Dictionary<MethodDefinitionHandle, List<(int Offset, string File, int Line)>> pointCache = new();

        private List<(int Offset, string File, int Line)> SequencePoints(MethodDefinitionHandle mh)
        {
            if (pointCache.TryGetValue(mh, out var cached))
                return cached;
            var list = new List<(int, string, int)>();
            if (pdb is not null)
            {
                var debug = pdb.GetMethodDebugInformation(mh.ToDebugInformationHandle());
                foreach (var sp in debug.GetSequencePoints())
                {
                    if (sp.IsHidden || sp.Document.IsNil)
                        continue;
                    var doc = pdb.GetString(pdb.GetDocument(sp.Document).Name);
                    list.Add((sp.Offset, Relative(doc), sp.StartLine));
                }
            }
            pointCache[mh] = list;
            return list;
        }

        private string Relative(string path)
        {
            if (sourceRoot is not null)
            {
                var root = Path.GetFullPath(sourceRoot).TrimEnd('/') + "/";
                if (path.StartsWith(root, StringComparison.Ordinal))
                    return path[root.Length..];
            }
            return path;
        }

        private static (string? File, int Line) LineAt(List<(int Offset, string File, int Line)> points, int offset)
        {
            (string? File, int Line) best = (null, 0);
            foreach (var p in points)
            {
                if (p.Offset > offset)
                    break;
                best = (p.File, p.Line);
            }
            if (best.File is null && points.Count > 0)
                best = (points[0].File, points[0].Line);
            return best;
        }
    }

    private enum Operand { None, Token, String, Int8, Int16, Int32, Int64, Switch }

    private static ILOpCode ReadOpCode(ref BlobReader il)
    {
        byte b = il.ReadByte();
        return b == 0xFE ? (ILOpCode)(0xFE00 | il.ReadByte()) : (ILOpCode)b;
    }

    private static Operand OperandKind(ILOpCode op)
    {
        switch (op)
        {
            case ILOpCode.Ldstr:
                return Operand.String;
            case ILOpCode.Switch:
                return Operand.Switch;
            case ILOpCode.Ldc_i8:
            case ILOpCode.Ldc_r8:
                return Operand.Int64;
            case ILOpCode.Calli:
                return Operand.Int32;
            case ILOpCode.Ldarg:
            case ILOpCode.Ldarga:
            case ILOpCode.Starg:
            case ILOpCode.Ldloc:
            case ILOpCode.Ldloca:
            case ILOpCode.Stloc:
                return Operand.Int16;
            case ILOpCode.Unaligned:
                return Operand.Int8;
        }
        if (op.IsBranch())
            return op.GetBranchOperandSize() == 1 ? Operand.Int8 : Operand.Int32;
        switch (op)
        {
            case ILOpCode.Ldarg_s:
            case ILOpCode.Ldarga_s:
            case ILOpCode.Starg_s:
            case ILOpCode.Ldloc_s:
            case ILOpCode.Ldloca_s:
            case ILOpCode.Stloc_s:
            case ILOpCode.Ldc_i4_s:
                return Operand.Int8;
            case ILOpCode.Ldc_i4:
            case ILOpCode.Ldc_r4:
                return Operand.Int32;
            case ILOpCode.Call:
            case ILOpCode.Callvirt:
            case ILOpCode.Newobj:
            case ILOpCode.Jmp:
            case ILOpCode.Ldftn:
            case ILOpCode.Ldvirtftn:
            case ILOpCode.Ldfld:
            case ILOpCode.Ldflda:
            case ILOpCode.Stfld:
            case ILOpCode.Ldsfld:
            case ILOpCode.Ldsflda:
            case ILOpCode.Stsfld:
            case ILOpCode.Ldtoken:
            case ILOpCode.Box:
            case ILOpCode.Unbox:
            case ILOpCode.Unbox_any:
            case ILOpCode.Newarr:
            case ILOpCode.Castclass:
            case ILOpCode.Isinst:
            case ILOpCode.Ldobj:
            case ILOpCode.Stobj:
            case ILOpCode.Cpobj:
            case ILOpCode.Initobj:
            case ILOpCode.Ldelem:
            case ILOpCode.Ldelema:
            case ILOpCode.Stelem:
            case ILOpCode.Sizeof:
            case ILOpCode.Mkrefany:
            case ILOpCode.Refanyval:
            case ILOpCode.Constrained:
                return Operand.Token;
        }
        return Operand.None;
    }
}
